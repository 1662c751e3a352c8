#!/bin/sh
# speechops lab registry entrypoint: install the mounted TLS material and htpasswd file for the
# docker-registry user, then run the registry as that user.
set -eu
src=/run/speechops-lab
dst=/etc/docker/registry/secrets
for f in registry.crt registry.key htpasswd; do
    [ -s "$src/$f" ] || { echo "speechops-registry: $src/$f is missing" >&2; exit 1; }
done
install -d -m 0750 -o root -g docker-registry "$dst"
install -m 0644 "$src/registry.crt" "$dst/registry.crt"
install -m 0640 -g docker-registry "$src/registry.key" "$dst/registry.key"
install -m 0640 -g docker-registry "$src/htpasswd" "$dst/htpasswd"
# The storage may be a bind mount kept across lab runs (and image rebuilds): own it, recursively only when needed.
mkdir -p /var/lib/docker-registry
if [ "$(stat -c %U /var/lib/docker-registry)" != docker-registry ]; then
    chown -R docker-registry:docker-registry /var/lib/docker-registry
fi
exec setpriv --reuid=docker-registry --regid=docker-registry --init-groups \
    /usr/bin/docker-registry serve /etc/docker/registry/config.yml
