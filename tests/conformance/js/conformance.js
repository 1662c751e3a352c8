// Conformance checks: Microsoft's Speech SDK for JavaScript (microsoft-cognitiveservices-speech-sdk, pinned in
// package.json) against running Speech containers, used the way Microsoft documents it.
//
//   node tests/conformance/js/conformance.js [--results FILE]
//
// Reads the targets file named by SPEECHOPS_CONFORMANCE_TARGETS (kinds listed in SPEECHOPS_CONFORMANCE_NOT_DEPLOYED
// are skipped, with that reason). Prints one line per check (PASS, FAIL or SKIP, name, seconds, reason), writes the
// same as JSON to FILE, and exits 1 when a check failed. Reference audio comes from outside this project: Debian's
// pocketsphinx-testdata recordings and German that espeak-ng speaks at run time.
//
// Sources: paths starting with articles/ are in MicrosoftDocs/azure-ai-docs; src/ paths are in
// microsoft/cognitive-services-speech-sdk-js (this SDK's source). Every wait has a deadline; nothing sleeps to
// synchronise.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { execFileSync } = require("node:child_process");
const sdk = require("microsoft-cognitiveservices-speech-sdk");

const KINDS = ["speech-to-text", "custom-speech-to-text", "neural-text-to-speech", "language-detection"];
const DEADLINE_MS = 1000 * Number(process.env.SPEECHOPS_CONFORMANCE_DEADLINE || "20");
const TESTDATA = process.env.SPEECHOPS_CONFORMANCE_TESTDATA || "/usr/share/pocketsphinx/test/data";
const OTHER_VOICES = ["de-DE-KatjaNeural", "en-GB-SoniaNeural"]; // language-support.md, tab tts
const CANDIDATES = ["en-US", "de-DE"];
const GERMAN_TEXT =
  "Guten Morgen. Heute scheint die Sonne über der Stadt, und am Nachmittag gehen wir mit den Kindern " +
  "im Park spazieren. Danach trinken wir zusammen einen Kaffee.";

// ------------------------------------------------------------------------------------------------
// Targets

class NotDeployed extends Error {}

function notDeployed() {
  const raw = process.env.SPEECHOPS_CONFORMANCE_NOT_DEPLOYED || "";
  const kinds = raw.split(",").map((k) => k.trim()).filter(Boolean);
  const unknown = kinds.filter((k) => !KINDS.includes(k));
  if (unknown.length) {
    throw new Error(`SPEECHOPS_CONFORMANCE_NOT_DEPLOYED=${raw} names unknown kinds ${unknown.join(", ")}; use: ${KINDS.join(", ")}`);
  }
  return new Set(kinds);
}

function target(kind) {
  if (notDeployed().has(kind)) {
    throw new NotDeployed(`not deployed: ${kind} is listed in SPEECHOPS_CONFORMANCE_NOT_DEPLOYED`);
  }
  const file = process.env.SPEECHOPS_CONFORMANCE_TARGETS;
  if (!file) {
    throw new Error("SPEECHOPS_CONFORMANCE_TARGETS is not set (tests/conformance/local_targets.py writes a targets file)");
  }
  const entry = JSON.parse(fs.readFileSync(file, "utf8"))[kind];
  if (!entry || !entry.host || !entry.port) {
    throw new Error(`no target for ${kind} in ${file} (needs host and port); if it is not deployed, add it to SPEECHOPS_CONFORMANCE_NOT_DEPLOYED`);
  }
  return {
    kind,
    host: String(entry.host),
    port: Number(entry.port),
    locale: entry.locale || "en-US",
    voice: entry.voice || "",
    // speech-container-howto.md "Host URLs": ws:// for speech to text, http:// for text to speech and language
    // identification; articles/ai-services/speech-service/includes/containers-speech-config-ws.md (JavaScript pivot)
    // passes the host to SpeechConfig.fromHost, which takes a URL (src/sdk/SpeechConfig.ts).
    // Behind speechops.edge's speech gateway: wss:// and https:// (NODE_EXTRA_CA_CERTS trusts the lab CA) and an
    // access key, which fromHost(url, key) sends as Ocp-Apim-Subscription-Key (header and query).
    tls: Boolean(entry.tls),
    key: entry.key || undefined,
    get wsHost() { return new URL(`${this.tls ? "wss" : "ws"}://${this.host}:${this.port}`); },
    get httpHost() { return new URL(`${this.tls ? "https" : "http"}://${this.host}:${this.port}`); },
  };
}

// ------------------------------------------------------------------------------------------------
// Audio

function wav(pcm) {
  const header = Buffer.alloc(44);
  header.write("RIFF", 0);
  header.writeUInt32LE(36 + pcm.length, 4);
  header.write("WAVEfmt ", 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(16000, 24);
  header.writeUInt32LE(32000, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write("data", 36);
  header.writeUInt32LE(pcm.length, 40);
  return Buffer.concat([header, pcm]);
}

// {format, channels, rate, bits, seconds} of a RIFF/WAVE buffer, or throws naming what is wrong.
function wavInfo(buffer) {
  const data = Buffer.from(buffer);
  if (data.length < 12 || data.toString("ascii", 0, 4) !== "RIFF" || data.toString("ascii", 8, 12) !== "WAVE") {
    throw new Error(`not a RIFF WAVE buffer (${data.length} bytes, starts ${JSON.stringify(data.toString("latin1", 0, 12))})`);
  }
  let offset = 12;
  let fmt = null;
  while (offset + 8 <= data.length) {
    const id = data.toString("ascii", offset, offset + 4);
    let size = data.readUInt32LE(offset + 4);
    if (id === "fmt ") {
      fmt = {
        format: data.readUInt16LE(offset + 8),
        channels: data.readUInt16LE(offset + 10),
        rate: data.readUInt32LE(offset + 12),
        bits: data.readUInt16LE(offset + 22),
      };
    } else if (id === "data" && fmt) {
      // Streaming writers may leave the size open (0 or 0xFFFFFFFF): count what is there.
      if (size === 0 || size === 0xffffffff || offset + 8 + size > data.length) size = data.length - offset - 8;
      return { ...fmt, seconds: size / (fmt.rate * fmt.channels * (fmt.bits / 8)) };
    }
    offset += 8 + size + (size % 2);
  }
  throw new Error("RIFF WAVE without fmt and data chunks");
}

function librivox(id) {
  return fs.readFileSync(path.join(TESTDATA, "librivox", `${id}.wav`));
}

function goforwardWav() {
  return wav(fs.readFileSync(path.join(TESTDATA, "goforward.raw")));
}

function silenceWav(seconds) {
  return wav(Buffer.alloc(Math.round(seconds * 16000) * 2));
}

function germanWav() {
  const spoken = execFileSync("espeak-ng", ["-v", "de", "--stdout", GERMAN_TEXT]);
  // Raw output wrapped here: a WAV header written to a pipe cannot carry the length.
  const pcm = execFileSync("sox", ["-V1", "-t", "wav", "-", "-t", "raw", "-r", "16000", "-c", "1", "-b", "16", "-e", "signed", "-"], {
    input: spoken,
  });
  return wav(pcm);
}

// ------------------------------------------------------------------------------------------------
// SDK plumbing

function withDeadline(promise, what) {
  let timer;
  const deadline = new Promise((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${DEADLINE_MS / 1000} s`)), DEADLINE_MS);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function describe(result) {
  let text = `reason=${sdk.ResultReason[result.reason]} text=${JSON.stringify(result.text)}`;
  if (result.reason === sdk.ResultReason.Canceled) {
    text += ` canceled: ${result.errorDetails}`;
  } else if (result.reason === sdk.ResultReason.NoMatch) {
    text += ` no match: ${sdk.NoMatchReason[sdk.NoMatchDetails.fromResult(result).reason]}`;
  }
  return text;
}

function sttConfig(t) {
  // articles/ai-services/speech-service/includes/containers-speech-config-ws.md: SpeechConfig.fromHost(ws://...).
  const config = sdk.SpeechConfig.fromHost(t.wsHost, t.key);
  config.speechRecognitionLanguage = t.locale;
  return config;
}

function recognizeOnce(recognizer, what) {
  const result = new Promise((resolve, reject) => recognizer.recognizeOnceAsync(resolve, (e) => reject(new Error(String(e)))));
  return withDeadline(result, what).finally(() => recognizer.close());
}

// Continuous recognition to the end of the audio: resolves with {recognizing, recognized} at session end.
function recognizeContinuous(recognizer, what) {
  const seen = { recognizing: [], recognized: [] };
  const done = new Promise((resolve, reject) => {
    recognizer.recognizing = (_s, e) => seen.recognizing.push({ at: Date.now(), text: e.result.text });
    recognizer.recognized = (_s, e) => seen.recognized.push(e.result);
    recognizer.canceled = (_s, e) => {
      // The end of the audio raises `canceled` with reason EndOfStream: only errors count.
      if (e.reason === sdk.CancellationReason.Error) reject(new Error(`canceled: ${e.errorDetails}`));
    };
    recognizer.sessionStopped = () => resolve(seen);
    recognizer.startContinuousRecognitionAsync(() => {}, (e) => reject(new Error(String(e))));
  });
  return withDeadline(done, what).finally(
    () => new Promise((resolve) => recognizer.stopContinuousRecognitionAsync(resolve, resolve)).then(() => recognizer.close()),
  );
}

function speechResults(seen) {
  return seen.recognized.filter((r) => r.reason === sdk.ResultReason.RecognizedSpeech && r.text.trim());
}

function ssmlFor(voice, text = "This is the text that is spoken.") {
  // The SSML of articles/ai-services/speech-service/speech-container-ntts.md "SSML voice element".
  const lang = voice.split("-").slice(0, 2).join("-");
  return `<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang="${lang}"><voice name="${voice}">${text}</voice></speak>`;
}

function synthesize(t, { ssml, text }) {
  // articles/ai-services/speech-service/includes/containers-speech-config-http.md: SpeechConfig.fromHost(http://...).
  const config = sdk.SpeechConfig.fromHost(t.httpHost, t.key);
  config.speechSynthesisVoiceName = t.voice;
  config.speechSynthesisOutputFormat = sdk.SpeechSynthesisOutputFormat.Riff16Khz16BitMonoPcm;
  // audioConfig null: keep the audio in the result instead of playing it (get-started-text-to-speech.md).
  const synthesizer = new sdk.SpeechSynthesizer(config, null);
  const result = new Promise((resolve, reject) => {
    const fail = (e) => reject(new Error(String(e)));
    if (ssml !== undefined) synthesizer.speakSsmlAsync(ssml, resolve, fail);
    else synthesizer.speakTextAsync(text, resolve, fail);
  });
  return withDeadline(result, "synthesis").finally(() => synthesizer.close());
}

function describeSynthesis(result) {
  const bytes = result.audioData ? result.audioData.byteLength : 0;
  let text = `reason=${sdk.ResultReason[result.reason]} audio=${bytes} bytes`;
  if (result.reason === sdk.ResultReason.Canceled) text += ` canceled: ${result.errorDetails}`;
  return text;
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

function assertPcmWav(audioData, what) {
  const info = wavInfo(audioData);
  assert(info.format === 1 && info.bits === 16 && info.channels === 1, `${what}: not 16-bit mono PCM: ${JSON.stringify(info)}`);
  assert(info.seconds > 0.3, `${what}: only ${info.seconds.toFixed(2)} s of audio`);
}

// ------------------------------------------------------------------------------------------------
// Checks: [name, kind, async function(target)]

const checks = [];
const check = (name, kind, fn) => checks.push({ name, kind, fn });

// speech-to-text and custom speech-to-text: speech-container-stt.md / speech-container-cstt.md "Use the container",
// the Node quickstart (get-started-speech-to-text.md, JavaScript: AudioConfig.fromWavFileInput(fs.readFileSync(...))).
for (const kind of ["speech-to-text", "custom-speech-to-text"]) {
  check(`js ${kind} recognize-once`, kind, async (t) => {
    // The JavaScript SDK's `ws` client verifies Sec-WebSocket-Accept (RFC 6455 section 4.1): a wrong value fails here.
    const recognizer = new sdk.SpeechRecognizer(sttConfig(t), sdk.AudioConfig.fromWavFileInput(goforwardWav()));
    const result = await recognizeOnce(recognizer, "recognizeOnceAsync");
    assert(result.reason === sdk.ResultReason.RecognizedSpeech && result.text.trim(), describe(result));
  });
}

check("js speech-to-text continuous", "speech-to-text", async (t) => {
  // how-to-recognize-speech.md "Continuous recognition" (JavaScript): recognized events, then sessionStopped.
  const audio = sdk.AudioConfig.fromWavFileInput(librivox("sense_and_sensibility_01_austen_64kb-0880"));
  const seen = await recognizeContinuous(new sdk.SpeechRecognizer(sttConfig(t), audio), "continuous");
  assert(speechResults(seen).length, `no recognized speech: ${seen.recognized.map(describe).join("; ")}`);
});

check("js speech-to-text detailed-output", "speech-to-text", async (t) => {
  // rest-speech-to-text-short.md "Detailed format": NBest with Lexical, ITN and Display; the SDK property
  // SpeechServiceResponse_JsonResult carries the service's JSON (get-speech-recognition-results.md).
  const config = sttConfig(t);
  config.outputFormat = sdk.OutputFormat.Detailed;
  const result = await recognizeOnce(new sdk.SpeechRecognizer(config, sdk.AudioConfig.fromWavFileInput(goforwardWav())), "detailed");
  assert(result.reason === sdk.ResultReason.RecognizedSpeech, describe(result));
  const body = JSON.parse(result.properties.getProperty(sdk.PropertyId.SpeechServiceResponse_JsonResult));
  assert(Array.isArray(body.NBest) && body.NBest.length, `no NBest in ${JSON.stringify(body)}`);
  for (const name of ["Lexical", "ITN", "Display"]) {
    assert(typeof body.NBest[0][name] === "string" && body.NBest[0][name].trim(), `NBest[0] lacks ${name}: ${JSON.stringify(body)}`);
  }
});

check("js speech-to-text silence-no-match", "speech-to-text", async (t) => {
  // rest-speech-to-text-short.md RecognitionStatus NoMatch / InitialSilenceTimeout; both map to ResultReason.NoMatch
  // (src/common.speech/EnumTranslation.ts implTranslateRecognitionResult).
  const result = await recognizeOnce(new sdk.SpeechRecognizer(sttConfig(t), sdk.AudioConfig.fromWavFileInput(silenceWav(6))), "silence");
  assert(result.reason === sdk.ResultReason.NoMatch, describe(result));
});

// neural text-to-speech: speech-container-ntts.md "Use the container" (the quickstart with host http://localhost:5000)
// and "SSML voice element"; the SDK opens /tts/cognitiveservices/websocket/v1 (src/common.speech/SpeechSynthesisConnectionFactory.ts).
check("js neural-text-to-speech speak-text", "neural-text-to-speech", async (t) => {
  const result = await synthesize(t, { text: "Hello from the conformance check. This is a test." });
  assert(result.reason === sdk.ResultReason.SynthesizingAudioCompleted, describeSynthesis(result));
  assertPcmWav(result.audioData, "speakTextAsync");
});

check("js neural-text-to-speech speak-ssml", "neural-text-to-speech", async (t) => {
  const result = await synthesize(t, { ssml: ssmlFor(t.voice) });
  assert(result.reason === sdk.ResultReason.SynthesizingAudioCompleted, describeSynthesis(result));
  assertPcmWav(result.audioData, "speakSsmlAsync");
});

async function assertRefusedVoice(t, voice) {
  // Control first: the image's own voice over the same path, so a refusal is not a missing endpoint.
  const control = await synthesize(t, { ssml: ssmlFor(t.voice) });
  assert(control.reason === sdk.ResultReason.SynthesizingAudioCompleted, `control with ${t.voice} failed: ${describeSynthesis(control)}`);
  const result = await synthesize(t, { ssml: ssmlFor(voice) });
  assert(result.reason === sdk.ResultReason.Canceled, describeSynthesis(result));
}

check("js neural-text-to-speech wrong-voice-canceled", "neural-text-to-speech", async (t) => {
  // speech-container-ntts.md "SSML voice element": the voice must be the container's.
  await assertRefusedVoice(t, OTHER_VOICES.find((v) => v.toLowerCase() !== t.voice.toLowerCase()));
});

check("js neural-text-to-speech case-mismatched-voice-canceled", "neural-text-to-speech", async (t) => {
  // Voice names are case-sensitive with Microsoft's casing (en-US-AriaNeural for the tag's en-us-arianeural).
  await assertRefusedVoice(t, t.voice.toLowerCase());
});

// language detection: the JavaScript SDK has no SourceLanguageRecognizer (language-identification.md names it for
// containers); its documented way is SpeechRecognizer.FromConfig with AutoDetectSourceLanguageConfig
// (language-identification.md, JavaScript pivot), host http:// as speech-container-lid.md gives it. The SDK then opens
// /speech/recognition/interactive/cognitiveservices/v1?lidEnabled=true (fromHost pins endpoint version 1: "Containers do
// not yet have /stt/speech/universal/v2 routes", src/sdk/SpeechConfig.ts).
for (const expected of CANDIDATES) {
  check(`js language-detection auto-detect ${expected}`, "language-detection", async (t) => {
    const audio = expected === "de-DE" ? germanWav() : librivox("sense_and_sensibility_01_austen_64kb-0870");
    const recognizer = sdk.SpeechRecognizer.FromConfig(
      sdk.SpeechConfig.fromHost(t.httpHost, t.key),
      sdk.AutoDetectSourceLanguageConfig.fromLanguages(CANDIDATES),
      sdk.AudioConfig.fromWavFileInput(audio),
    );
    const result = await recognizeOnce(recognizer, "auto-detect");
    assert(result.reason === sdk.ResultReason.RecognizedSpeech, describe(result));
    const language = sdk.AutoDetectSourceLanguageResult.fromResult(result).language;
    assert(language === expected, `detected ${language}, expected ${expected} (${describe(result)})`);
  });
}

// ------------------------------------------------------------------------------------------------
// Runner

async function main() {
  const resultsIndex = process.argv.indexOf("--results");
  const resultsFile = resultsIndex > 0 ? process.argv[resultsIndex + 1] : null;
  const outcomes = [];
  for (const { name, kind, fn } of checks) {
    const started = Date.now();
    let status = "PASS";
    let reason = "";
    try {
      await fn(target(kind));
    } catch (error) {
      status = error instanceof NotDeployed ? "SKIP" : "FAIL";
      reason = error && error.message ? error.message : String(error);
    }
    const seconds = (Date.now() - started) / 1000;
    outcomes.push({ name, status, seconds, reason });
    console.log(`${status}  ${name}  ${seconds.toFixed(2)}s${reason ? "  " + reason.split("\n")[0] : ""}`);
  }
  if (resultsFile) fs.writeFileSync(resultsFile, JSON.stringify(outcomes, null, 2) + "\n");
  const failed = outcomes.filter((o) => o.status === "FAIL").length;
  const passed = outcomes.filter((o) => o.status === "PASS").length;
  console.log(`${passed} passed, ${failed} failed`);
  // The SDK may keep sockets or timers alive after close(); the verdict is in, so end the process.
  process.exit(failed ? 1 : 0);
}

main().catch((error) => {
  console.error(error);
  process.exit(2);
});
