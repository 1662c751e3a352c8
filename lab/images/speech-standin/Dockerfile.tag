# Speech container stand-in, one image tag: bakes kind/version/locale/voice into the stand-in base image.
# Built by lab/speechlab.py once per tag: DOCKER_BUILDKIT=0, BASE_IMAGE = the stand-in base image. No network.
ARG BASE_IMAGE=speechops-lab/speech-standin:latest
FROM ${BASE_IMAGE}
# One of: speech-to-text custom-speech-to-text neural-text-to-speech text-to-speech custom-text-to-speech
# language-detection fast-transcription. Locale/voice as in the tag (en-us, arianeural); empty for kinds without them.
ARG STANDIN_KIND
ARG STANDIN_VERSION
ARG STANDIN_TAG=
ARG STANDIN_LOCALE=
ARG STANDIN_VOICE=
# Seconds until /ready turns 200 ("never": it never does); empty: the stand-in's default (2).
ARG STANDIN_WARMUP_SECONDS=
# Container port; empty: the kind's port (5000, language-detection 5003). Pass it anyway so EXPOSE is right.
ARG STANDIN_PORT=
# Exact SSML voice name when the display-case rule cannot derive it (multi-word voices); usually empty.
ARG STANDIN_SSML_VOICE=
USER root
RUN set -eu; \
    case "$STANDIN_KIND" in \
      custom-speech-to-text|custom-text-to-speech) \
        rm -rf /usr/local/models/* && chown 65532:65532 /usr/local/models ;; \
      speech-to-text|neural-text-to-speech|text-to-speech|language-detection|fast-transcription) \
        cp /opt/standin/builtin-model/properties.json /usr/local/models/properties.json \
        && chown -R 0:0 /usr/local/models && chmod 0755 /usr/local/models ;; \
      *) echo "STANDIN_KIND='$STANDIN_KIND' is not a speech container kind" >&2; exit 1 ;; \
    esac; \
    test -n "$STANDIN_VERSION" || { echo "pass --build-arg STANDIN_VERSION" >&2; exit 1; }
USER 65532:65532
ENV SPEECH_KIND=${STANDIN_KIND} \
    SPEECH_VERSION=${STANDIN_VERSION} \
    SPEECH_TAG=${STANDIN_TAG} \
    SPEECH_LOCALE=${STANDIN_LOCALE} \
    SPEECH_VOICE=${STANDIN_VOICE} \
    SPEECH_SSML_VOICE=${STANDIN_SSML_VOICE} \
    STANDIN_WARMUP_SECONDS=${STANDIN_WARMUP_SECONDS} \
    STANDIN_PORT=${STANDIN_PORT}
EXPOSE ${STANDIN_PORT:-5000}
LABEL speechops.standin.kind=${STANDIN_KIND} speechops.standin.version=${STANDIN_VERSION}
