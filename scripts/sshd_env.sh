#!/usr/bin/env bash
# An sshd on a loopback port for the ssh launcher's test: installs openssh-server from
# Debian's packages when missing, generates a host key and a client key under DIR, and starts
# sshd on 127.0.0.1:PORT accepting that key for the current user. Prints the ssh command
# that reaches it (for REPSPACE_SSH). Stop with: bash scripts/sshd_env.sh stop DIR
#   REPSPACE_SSH=$(bash scripts/sshd_env.sh start DIR)
set -euo pipefail
cmd=${1:?usage: sshd_env.sh start|stop DIR}
dir=${2:?usage: sshd_env.sh start|stop DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [ "$cmd" = stop ]; then
  [ -f "$dir/sshd.pid" ] && kill "$(cat "$dir/sshd.pid")" 2>/dev/null || true
  exit 0
fi
if [ ! -x /usr/sbin/sshd ] || ! command -v ssh >/dev/null; then
  sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_="sudo"
  # a fresh machine has no package lists yet
  $sudo_ apt-get update -qq >&2
  $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-server openssh-client >&2
fi
[ "$(id -u)" -ne 0 ] || mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key" <<< y >/dev/null
ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key" <<< y >/dev/null
cp "$dir/client_key.pub" "$dir/authorized_keys"
chmod 600 "$dir/authorized_keys"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$dir/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
CONF
/usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"
ssh_cmd="ssh -p $port -i $dir/client_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes"
for _ in $(seq 1 50); do
  if $ssh_cmd 127.0.0.1 true 2>/dev/null; then
    echo "$ssh_cmd"
    exit 0
  fi
  sleep 0.1
done
echo "sshd did not come up; see $dir/sshd.log" >&2
exit 1
