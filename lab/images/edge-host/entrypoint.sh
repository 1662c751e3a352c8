#!/bin/sh
# speechops lab edge host entrypoint (runs under tini as PID 1).
# The container is started WITHOUT --privileged (that fails on these machines) but with
# --cap-add SYS_ADMIN --cap-add NET_ADMIN --security-opt seccomp=unconfined and a volume at /var/lib/docker.
set -eu

log() { echo "speechops-edge: $*" >&2; }

# 1. /sys and the cgroup hierarchies are read-only in an unprivileged container; the inner engine's runc
#    must create cgroups below them.
mount -o remount,rw /sys 2>/dev/null || log "cannot remount /sys read-write"
awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts | while read -r mnt; do
    mount -o remount,bind,rw "$mnt" 2>/dev/null || log "cannot remount $mnt read-write"
done
# cgroup v2 (other machines): move ourselves out of the root cgroup so controllers can be delegated.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    mkdir -p /sys/fs/cgroup/init
    xargs -rn1 < /sys/fs/cgroup/cgroup.procs > /sys/fs/cgroup/init/cgroup.procs 2>/dev/null || :
    sed -e 's/ / +/g' -e 's/^/+/' < /sys/fs/cgroup/cgroup.controllers \
        > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || :
fi

# 2. Stale pid files of a previous run of this container (docker restart) stop dockerd/containerd from starting.
rm -f /var/run/docker.pid /var/run/docker-ssd.pid /var/run/docker/containerd/containerd.pid \
      /run/containerd/containerd.pid

# 3. SSH: root logs in with the lab key only.
mkdir -p /root/.ssh /run/sshd
chmod 0700 /root/.ssh
if [ -s /run/speechops-lab/authorized_keys ]; then
    install -m 0600 /run/speechops-lab/authorized_keys /root/.ssh/authorized_keys
elif [ -n "${SSH_AUTHORIZED_KEYS:-}" ]; then
    printf '%s\n' "$SSH_AUTHORIZED_KEYS" > /root/.ssh/authorized_keys
    chmod 0600 /root/.ssh/authorized_keys
else
    log "no authorized key: mount /run/speechops-lab/authorized_keys or set SSH_AUTHORIZED_KEYS"
fi
[ -s /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key

# 4. The host's own Docker engine, through Debian's init script so that `service docker restart` works for
#    roles that change /etc/docker/daemon.json (log: /var/log/docker.log).
service docker start >/dev/null || log "dockerd did not start: see /var/log/docker.log"

# 5. Services enabled at boot, as systemd starts them on a real host: HAProxy (the speech gateway), when installed.
if [ -x /etc/init.d/haproxy ] && [ -f /etc/haproxy/haproxy.cfg ]; then
    rm -f /run/haproxy.pid
    service haproxy start >/dev/null || log "haproxy did not start: haproxy -c -f /etc/haproxy/haproxy.cfg says why"
fi

# A site cache (speechops.edge.site_cache), only once the role has configured it: Debian's default configuration
# would serve plain HTTP on :5000, a speech container's port.
if [ -x /etc/init.d/docker-registry ] && grep -q speechops.edge.site_cache /etc/docker/registry/config.yml 2>/dev/null; then
    rm -f /var/run/docker-registry.pid
    service docker-registry start >/dev/null || log "docker-registry did not start: see /var/log/docker-registry.log"
fi

# 6. sshd in the foreground keeps the host alive.
exec /usr/sbin/sshd -D -e
