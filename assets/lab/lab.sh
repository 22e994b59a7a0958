#!/usr/bin/env bash
# pgrepl lab: throw-away "hosts" on this machine, a primary and one to three
# standbys (primary, standby, standby2, standby3), each one a network + PID +
# mount + UTS + IPC namespace running its own sshd, reachable only over a
# private bridge.  PostgreSQL is installed (binaries shared from /usr) but no
# cluster exists on any host: that is what pgrepl is for.
#
#   bash lab.sh up|down|status [--name NAME] [--subnet A.B.C.0/24] [--dir DIR]
#                              [--standbys N] [--bare]
#
# up      build a fresh lab (an existing lab of the same name, whole or half
#         built, of any size, is torn down first); last line of output:
#         "config: DIR/pgrepl.toml".  --standbys N (1-3, default 1) sets the
#         number of standbys; with 1 the config has one [standby] table, with
#         more one [[standby]] entry per standby.
#         With --bare the hosts have no PostgreSQL server installed (each has
#         its own copy-on-write /usr and /var, hence its own dpkg state) and
#         can install it with apt from a small repository that the lab serves
#         on the bridge address (see bare_* below).
# down    tear the lab down, whatever its size; succeeds silently when there is
#         nothing to remove
# status  per-host state of the lab as `up` recorded it (its number of
#         standbys); exit 0 when every host is up and its sshd answers,
#         3 otherwise
#
# Several labs may run side by side when they differ in name and subnet: every
# kernel object (netns, bridge, veth) and the state directory derive from NAME.
# Traffic never leaves the machine: the bridge has no uplink and the hosts have
# no default route.

set -euo pipefail

readonly DEFAULT_NAME=pgrepl
readonly DEFAULT_SUBNET=10.77.0.0/24
readonly BASE_DIR=/var/lib/pgrepl-lab
# Every role a lab may have, in order; a lab of N standbys has the first N+1.
# ROLES (set by derive_roles) is the lab's own; teardown covers ALL_ROLES.
readonly ALL_ROLES=(primary standby standby2 standby3)
readonly MAX_STANDBYS=$((${#ALL_ROLES[@]} - 1))
readonly PG_PORT=5432
# --bare: downloaded .debs, shared by all labs and kept across runs, and the
# port of each bare lab's package repository on its bridge address.
readonly DEB_CACHE=/var/cache/pgrepl-lab/debs
readonly REPO_PORT=8077

PROG=${0##*/}

die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
info() { printf '%s\n' "$*"; }

usage() {
    cat <<EOF
usage: $PROG up|down|status [--name NAME] [--subnet A.B.C.0/24] [--dir DIR]
                    [--standbys N] [--bare]

  --name NAME      lab name, [a-z0-9-], at most 32 chars (default: $DEFAULT_NAME)
  --subnet CIDR    a /24 ending in .0 (default: $DEFAULT_SUBNET); the bridge
                   gets .1, the primary .10, the standby .11, standby2 .12,
                   standby3 .13
  --dir DIR        state directory (default: $BASE_DIR/NAME)
  --standbys N     (up) number of standbys, 1 to $MAX_STANDBYS (default: 1): hosts
                   standby, standby2, standby3.  With 1, pgrepl.toml has a
                   [standby] table; with more, one [[standby]] entry each.
                   status checks the number up recorded; down removes a lab
                   of any size.
  --bare           (up) hosts without the PostgreSQL server: each host gets its
                   own copy-on-write /usr and /var (own dpkg state) from which
                   the server packages (postgresql-NN) are purged, and apt
                   sources naming only a repository the lab serves over HTTP
                   on the bridge (http://BRIDGE:$REPO_PORT/), holding the .debs
                   needed to install them there.  The .debs are fetched with
                   apt-get download in the root namespace and kept in
                   $DEB_CACHE.  The hosts' package lists start
                   out stale: run apt-get update in a host before installing.
EOF
}

# ---------------------------------------------------------------- arguments --

parse_args() {
    CMD=""
    NAME=$DEFAULT_NAME
    SUBNET=""
    DIR=""
    BARE=0
    STANDBYS=""
    while (($#)); do
        case $1 in
            up|down|status)
                [[ -z $CMD ]] || die "more than one command given ('$CMD' and '$1')"
                CMD=$1 ;;
            --name|--subnet|--dir|--standbys)
                (($# >= 2)) || die "$1 needs a value"
                set_opt "$1" "$2"; shift ;;
            --name=*|--subnet=*|--dir=*|--standbys=*)
                set_opt "${1%%=*}" "${1#*=}" ;;
            --bare) BARE=1 ;;
            -h|--help) usage; exit 0 ;;
            *) usage >&2; die "unknown argument '$1'" ;;
        esac
        shift
    done
    [[ -n $CMD ]] || { usage >&2; die "no command given (up, down or status)"; }
}

set_opt() {
    case $1 in
        --name) NAME=$2 ;;
        --subnet) SUBNET=$2 ;;
        --dir) DIR=$2 ;;
        --standbys)
            valid_standbys "$2" ||
                die "bad --standbys '$2': expected a number from 1 to $MAX_STANDBYS"
            STANDBYS=$2 ;;
    esac
}

valid_standbys() { [[ $1 =~ ^[1-9]$ ]] && (($1 <= MAX_STANDBYS)); }

# Everything else is derived from NAME, SUBNET and DIR, here and only here.
derive_names() {
    [[ $NAME =~ ^[a-z0-9][a-z0-9-]{0,31}$ ]] ||
        die "bad --name '$NAME': use 1-32 of [a-z0-9-], starting with a letter or digit"

    # Interface names are limited to 15 bytes.  TAG is at most 10 chars: the
    # name itself when short, else a prefix plus a hash.  The '_' cannot occur
    # in a real name, so a hashed tag never equals another lab's literal one.
    local hash
    hash=$(printf '%s' "$NAME" | md5sum)
    if ((${#NAME} <= 10)); then TAG=$NAME; else TAG="${NAME:0:3}_${hash:0:6}"; fi
    BRIDGE="pl-$TAG"                              # <= 13 chars
    # Each role's veth is "pl-$TAG" plus a 2-char suffix unique to the role
    # (<= 15 chars).  The extra standbys' suffixes start with '_', which no
    # name has, so they equal no other lab's bridge or veth (a "-2" would be
    # the bridge of a lab named "$NAME-2").
    local -A veth_suffix=([primary]=-p [standby]=-s [standby2]=_2 [standby3]=_3)
    declare -gA NETNS VETH HOSTNAME_OF ALIAS IP HOSTDIR
    local role
    for role in "${ALL_ROLES[@]}"; do
        NETNS[$role]="pgrepl-$NAME-$role"         # a file name, no length limit
        VETH[$role]="pl-$TAG${veth_suffix[$role]}"  # <= 15 chars
        ALIAS[$role]="$NAME-$role"                # ssh_config alias
        if [[ $NAME == "$DEFAULT_NAME" ]]; then
            HOSTNAME_OF[$role]="lab-$role"
        else
            HOSTNAME_OF[$role]="$NAME-lab-$role"
        fi
    done

    [[ -n $DIR ]] || DIR="$BASE_DIR/$NAME"
    [[ $DIR == /* ]] || DIR="$PWD/$DIR"
    DIR=$(realpath -m -- "$DIR")
    # The path ends up in overlayfs mount options and in sshd/ssh config files:
    # keep it to characters none of those treat specially.
    [[ $DIR =~ ^/[A-Za-z0-9._/-]+$ ]] || die "--dir '$DIR': use only [A-Za-z0-9._/-]"
    # Inside a host these trees are replaced by private ones; a lab directory
    # under any of them would vanish from the host's view (host key, init.sh).
    local masked
    for masked in /tmp /run /root /home /etc /var/log /var/lib/postgresql /dev /proc /sys; do
        [[ $DIR == "$masked" || $DIR == "$masked"/* ]] &&
            die "--dir '$DIR' is under $masked, which each lab host masks; pick another place"
    done
    [[ $DIR != / && $DIR != /var && $DIR != /var/lib && $DIR != /usr && $DIR != "$BASE_DIR" ]] ||
        die "--dir '$DIR' is not a sensible lab directory"
    for role in "${ALL_ROLES[@]}"; do HOSTDIR[$role]="$DIR/$role"; done
    # Upper and work directories of every overlay the lab mounts.  overlayfs
    # refuses an upper directory on overlayfs (a container's root) and on some
    # other filesystems: prepare_cow puts a tmpfs here when DIR is such a place.
    COW="$DIR/cow"
    declare -gA HOSTCOW
    for role in "${ALL_ROLES[@]}"; do HOSTCOW[$role]="$COW/$role"; done
    BARE_COW="$COW/bare"
    BARE_DIR="$DIR/bare"
    REPO_DIR="$DIR/repo"
    LOCK_FILE="/run/lock/pgrepl-lab-$NAME.lock"
}

# Sets NET (A.B.C), BRIDGE_IP, IP[role] (for every possible role) and, via
# derive_roles, STANDBYS and ROLES.  With "recorded", a missing --subnet
# falls back to the one `up` recorded, so `status` and `down` need no
# --subnet, and the number of standbys is always the recorded one; `up`
# without --subnet or --standbys always means the default.
derive_addresses() {
    if [[ ${1:-} == recorded && -r $DIR/lab.env ]]; then
        [[ -n $SUBNET ]] || SUBNET=$(sed -n 's/^SUBNET=//p' "$DIR/lab.env")
        local recorded
        recorded=$(sed -n 's/^STANDBYS=//p' "$DIR/lab.env")
        # A lab recorded before --standbys existed has one standby.  A garbled
        # record must not stop `down` (which covers every role anyway).
        STANDBYS=${recorded:-1}
        if ! valid_standbys "$STANDBYS"; then
            warn "$DIR/lab.env records a bad STANDBYS '$STANDBYS'; assuming $MAX_STANDBYS"
            STANDBYS=$MAX_STANDBYS
        fi
    fi
    [[ -n $SUBNET ]] || SUBNET=$DEFAULT_SUBNET
    [[ $SUBNET =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.0/24$ ]] ||
        die "bad --subnet '$SUBNET': expected A.B.C.0/24"
    local octet
    for octet in "${BASH_REMATCH[@]:1:3}"; do
        ((10#$octet <= 255)) || die "bad --subnet '$SUBNET': octet $octet > 255"
    done
    NET="$((10#${BASH_REMATCH[1]})).$((10#${BASH_REMATCH[2]})).$((10#${BASH_REMATCH[3]}))"
    SUBNET="$NET.0/24"
    BRIDGE_IP="$NET.1"
    local i
    for i in "${!ALL_ROLES[@]}"; do IP[${ALL_ROLES[$i]}]="$NET.$((10 + i))"; done
    derive_roles
}

# ROLES := the lab's roles: the primary and the first STANDBYS standbys.
derive_roles() {
    [[ -n $STANDBYS ]] || STANDBYS=1
    ROLES=("${ALL_ROLES[@]:0:STANDBYS + 1}")
}

# ------------------------------------------------------------ prerequisites --

require_root() {
    ((EUID == 0)) || die "the lab needs root (it creates network namespaces and mounts): run it as root, e.g. with sudo, or point pgrepl at real hosts with --config"
}

# Whether this machine can host a lab at all, asked before anything changes:
# one sentence saying why not and what to do.
preflight() {
    local tool
    for tool in unshare nsenter mount flock; do
        command -v "$tool" >/dev/null ||
            die "'$tool' is missing: install util-linux (apt-get install util-linux), then run lab up again"
    done
    local err
    err=$(unshare --net --mount --propagation private true 2>&1) ||
        die "this machine cannot create network and mount namespaces ($err): run the lab on a VM, or in a container started with --privileged (CAP_SYS_ADMIN, CAP_NET_ADMIN), or point pgrepl at real hosts with --config"
    local probe rc=0
    probe=$(mktemp -d)
    # shellcheck disable=SC2016  # $1 is the inner sh's, on purpose
    err=$(unshare --mount --propagation private sh -c \
        'mount -t tmpfs none "$1" && mkdir "$1/l" "$1/u" "$1/w" "$1/m" && mount -t overlay overlay -o "lowerdir=$1/l,upperdir=$1/u,workdir=$1/w" "$1/m"' \
        sh "$probe" 2>&1) || rc=1
    rmdir "$probe"
    ((rc == 0)) ||
        die "this kernel cannot mount overlayfs ($err): load it (modprobe overlay) or run the lab on a machine whose kernel has it"
}

# Whether an overlay can keep its upper directory in $1.
overlay_upper_works() {
    local p="$1/.probe" rc=0
    mkdir -p "$p"/{lower,upper,work,merged}
    unshare --mount --propagation private mount -t overlay overlay \
        -o "lowerdir=$p/lower,upperdir=$p/upper,workdir=$p/work" "$p/merged" 2>/dev/null || rc=1
    rm -rf "$p"
    return "$rc"
}

# COW on DIR's own filesystem when overlayfs accepts it there (a VM's disk),
# else on a tmpfs of its own (inside a container).  `down` unmounts it.
prepare_cow() {
    mkdir -p "$COW"
    overlay_upper_works "$COW" && return 0
    mount -t tmpfs -o mode=0755 "pgrepl-lab-$NAME" "$COW" ||
        die "cannot mount a tmpfs at $COW for the lab's copy-on-write layers"
    info "copy-on-write layers on a tmpfs ($COW): $(stat -f -c %T "$DIR") cannot hold them"
    overlay_upper_works "$COW" || die "overlayfs refuses a tmpfs upper directory at $COW"
}

# Installs only what is missing, so a prepared machine never touches apt.
ensure_packages() {
    local -a missing=()
    command -v ip >/dev/null || missing+=(iproute2)
    { [[ -x /usr/sbin/sshd ]] && command -v ssh-keygen >/dev/null && command -v ssh >/dev/null; } ||
        missing+=(openssh-server openssh-client)
    command -v sudo >/dev/null || missing+=(sudo)
    { command -v pg_createcluster >/dev/null && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; } ||
        missing+=(postgresql)
    if ((BARE)); then
        command -v dpkg-scanpackages >/dev/null || missing+=(dpkg-dev)
        [[ -x /usr/bin/python3 ]] || missing+=(python3)
    fi
    ((${#missing[@]})) || return 0

    info "installing missing packages: ${missing[*]}"
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
    apt-get update -qq || die "apt-get update failed"
    # policy-rc.d on container images stops these from starting services; on a
    # full system the packages may start their own root-namespace daemons,
    # which the lab does not use.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
        die "apt-get install ${missing[*]} failed"
    local cmd
    local -a cmds=(ip /usr/sbin/sshd ssh ssh-keygen sudo pg_createcluster)
    ((BARE)) && cmds+=(dpkg-scanpackages /usr/bin/python3)
    for cmd in "${cmds[@]}"; do
        command -v "$cmd" >/dev/null || die "'$cmd' still missing after installing packages"
    done
}

# One lab name, one builder at a time.  The lock lives outside DIR because
# `down` deletes DIR.  The file is removed when no lab is left, so the
# holder re-checks that the file it locked is still the one at LOCK_FILE.
take_lock() {
    mkdir -p "${LOCK_FILE%/*}"
    while :; do
        exec {LOCK_FD}>>"$LOCK_FILE"
        flock -w 30 "$LOCK_FD" || die "another '$PROG' is working on lab '$NAME' ($LOCK_FILE)"
        [[ /proc/self/fd/$LOCK_FD -ef $LOCK_FILE ]] && break
        exec {LOCK_FD}>&-
    done
    trap release_lock EXIT
}

release_lock() {
    [[ -e $DIR/lab.env ]] || rm -f "$LOCK_FILE"
}

# -------------------------------------------------------------------- state --

# True while pid is a live (non-zombie) process.  The `unshare` and the
# host's PID 1 end up as zombies of whatever reaps orphans in the root
# namespace, which may take its time (here: about a second); a zombie holds
# nothing, and the kernel has already killed everything else in the host's
# PID namespace before its PID 1 becomes one.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }            # field 3 (state) follows "(comm) "
    [[ ${stat:0:1} != [ZX] ]]
}

# pid of the host's `unshare` process (its child is the host's PID 1), if
# alive.  Identified by its command line naming this host's init.sh, which
# holds from the moment it is started (setsid, ip, then unshare: the same pid).
host_pid() {
    local pid cmdline
    pid=$(cat "${HOSTDIR[$1]}/unshare.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 1
    cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
    [[ " $cmdline " == *" ${HOSTDIR[$1]}/init.sh "* ]] || return 1
    printf '%s\n' "$pid"
}

# pid of a bare lab's HTTP repository server, if alive and still the one
# serving REPO_DIR.
repo_server_pid() {
    local pid cmdline
    pid=$(cat "$DIR/repo.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 1
    cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
    [[ " $cmdline " == *" http.server "*" $REPO_DIR "* ]] || return 1
    printf '%s\n' "$pid"
}

netns_exists() { [[ -e /run/netns/$1 ]]; }
link_exists() { [[ -e /sys/class/net/$1 ]]; }

ssh_answers() {  # role [connect-timeout]
    ssh -F "$DIR/ssh_config" -o ConnectTimeout="${2:-2}" "root@${IP[$1]}" true </dev/null >/dev/null 2>&1
}

# ----------------------------------------------------------------- teardown --

# Kills every process of a lab host.  Killing the `unshare` parent alone would
# do (--kill-child SIGKILLs the host's PID 1, and the kernel then kills the
# whole PID namespace), but a half-built lab may lack the pid file, so also
# kill whatever still lives in the host's network namespace.
kill_host() {
    local role=$1 pid
    local -a pids=()
    pid=$(host_pid "$role") && pids+=("$pid")
    if netns_exists "${NETNS[$role]}"; then
        mapfile -t -O "${#pids[@]}" pids < <(ip netns pids "${NETNS[$role]}" 2>/dev/null)
    fi
    ((${#pids[@]})) || return 0
    kill -KILL "${pids[@]}" 2>/dev/null || true
    KILLED+=("${pids[@]}")
}

# Waits (briefly) until the given pids are gone, so the caller can trust that
# no sshd or postgres of the lab survives.
wait_gone() {
    local pid tries
    for ((tries = 0; tries < 200; tries++)); do
        for pid in "$@"; do
            if alive "$pid"; then sleep 0.025; continue 2; fi
        done
        return 0
    done
    warn "processes still alive after SIGKILL: $*"
    return 1
}

# Covers every role a lab of any size may have (ALL_ROLES), so a lab is
# removed whole whatever its recorded size, and whatever a half-built one
# left behind.
teardown() {
    local role
    KILLED=()
    for role in "${ALL_ROLES[@]}"; do kill_host "$role"; done
    local pid
    if pid=$(repo_server_pid); then
        kill -KILL "$pid" 2>/dev/null || true
        KILLED+=("$pid")
    fi
    ((${#KILLED[@]} == 0)) || wait_gone "${KILLED[@]}" || true

    # Deleting one end of a veth deletes the pair; doing it explicitly is
    # faster than waiting for the kernel's asynchronous netns cleanup.
    for role in "${ALL_ROLES[@]}"; do
        if link_exists "${VETH[$role]}"; then ip link del "${VETH[$role]}" 2>/dev/null || true; fi
        if netns_exists "${NETNS[$role]}"; then ip netns del "${NETNS[$role]}" || true; fi
    done
    if link_exists "$BRIDGE"; then ip link del "$BRIDGE" || true; fi

    # The hosts mount in private mount namespaces that die with them; below
    # DIR there is the copy-on-write tmpfs (see prepare_cow) and perhaps a
    # stray mount done by hand.  DIR itself may be a mount point of the
    # user's (a disk of its own): that one stays.
    local mnt
    while read -r mnt; do
        umount -l "$mnt" 2>/dev/null || true
    done < <(awk -v d="$DIR" 'index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r)

    remove_dir
}

# rm -rf only what is recognisably a lab directory (it has lab.env, or holds
# nothing but what `up` writes), never an arbitrary --dir.
remove_dir() {
    [[ -e $DIR ]] || return 0
    if [[ -e $DIR/lab.env ]] || ! find "$DIR" -mindepth 1 -maxdepth 1 \
        ! -name primary ! -name standby ! -name standby2 ! -name standby3 \
        ! -name cow ! -name 'id_ed25519*' ! -name known_hosts \
        ! -name ssh_config ! -name 'pgrepl*.toml' | grep -q .; then
        if mountpoint -q "$DIR"; then
            find "$DIR" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +
        else
            rm -rf -- "$DIR"
        fi
    else
        warn "not removing $DIR: it does not look like a pgrepl lab directory"
    fi
}

# ------------------------------------------------------------------- build --

# `ip ... show` whose netlink dump is retried when a concurrent change (say,
# another lab being built) interrupts it; iproute2 then only warns on stderr.
ip_show() {
    local out tries
    for ((tries = 0; tries < 10; tries++)); do
        out=$(ip "$@" 2>&1) || true
        [[ $out == *"Dump was interrupted"* ]] || break
    done
    printf '%s\n' "$out" | grep -v '^Dump was interrupted' || true
}

check_conflicts() {
    # Another lab (or a real network) already using this subnet would make
    # routing ambiguous; refuse instead of half-building.
    local dev
    dev=$(ip_show -o -4 addr show to "$BRIDGE_IP/32" | awk '{print $2; exit}')
    [[ -z $dev || $dev == "$BRIDGE" ]] ||
        die "$BRIDGE_IP (subnet $SUBNET) is already on interface $dev; pick another --subnet"
    dev=$(ip_show -o -4 route show exact "$SUBNET" | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -n1)
    [[ -z $dev || $dev == "$BRIDGE" ]] ||
        die "subnet $SUBNET is already routed via $dev; pick another --subnet"
}

write_keys() {
    ssh-keygen -q -t ed25519 -N '' -C "pgrepl-lab-$NAME" -f "$DIR/id_ed25519"
    local role
    : >"$DIR/known_hosts"
    for role in "${ROLES[@]}"; do
        ssh-keygen -q -t ed25519 -N '' -C "${HOSTNAME_OF[$role]}" -f "${HOSTDIR[$role]}/ssh_host_ed25519_key"
        # Pre-filled, so StrictHostKeyChecking=yes works from the first
        # connection.  ssh looks keys up by HostName (the IP); the aliases are
        # there for tools that key on the name they were given.
        printf '%s,%s %s\n' "${IP[$role]}" "${ALIAS[$role]}" \
            "$(cut -d' ' -f1,2 "${HOSTDIR[$role]}/ssh_host_ed25519_key.pub")" >>"$DIR/known_hosts"
    done
}

write_ssh_config() {
    local role
    local -a ips=() aliases=()
    for role in "${ROLES[@]}"; do ips+=("${IP[$role]}"); aliases+=("${ALIAS[$role]}"); done
    {
        echo "# Written by lab.sh for lab '$NAME'.  Use: ssh -F $DIR/ssh_config ${ALIAS[primary]}"
        for role in "${ROLES[@]}"; do
            printf 'Host %s\n    HostName %s\n\n' "${ALIAS[$role]}" "${IP[$role]}"
        done
        cat <<EOF
Host ${ips[*]} ${aliases[*]}
    User root
    Port 22
    IdentityFile $DIR/id_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $DIR/known_hosts
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    BatchMode yes
EOF
    } >"$DIR/ssh_config"
}

# One standby: a [standby] table.  More: one [[standby]] entry each (an
# array of tables), in role order.  allowed_cidr is the whole /24, so it
# covers every standby.
write_pgrepl_toml() {  # file user
    local role header='[standby]'
    ((STANDBYS == 1)) || header='[[standby]]'
    {
        cat <<EOF
# Written by \`pgrepl lab up\` for the built-in lab.
[primary]
host = "${IP[primary]}"
user = "$2"
port = 22
identity_file = "$DIR/id_ed25519"

EOF
        for role in "${ROLES[@]:1}"; do
            cat <<EOF
$header
host = "${IP[$role]}"
user = "$2"
port = 22
identity_file = "$DIR/id_ed25519"

EOF
        done
        cat <<EOF
[postgres]
port = $PG_PORT
replication_user = "replica"
allowed_cidr = "$SUBNET"

[ssh]
accept_new_host_keys = false
known_hosts_file = "$DIR/known_hosts"
EOF
    } >"$1"
}

# The directories a host mounts over its private view, plus its sshd config
# and init script.  Everything a host needs is written here, in the root
# namespace, so init.sh only mounts and starts.
write_host_files() {
    local role=$1 hd home
    hd=${HOSTDIR[$role]}
    local hc=${HOSTCOW[$role]}
    mkdir -p "$hd"/{etc-postgresql,lib-postgresql,log/postgresql,root/.ssh,home/labadmin/.ssh} "$hc"/etc-{upper,work}
    if ((BARE)); then mkdir -p "$hc"/{usr,var}-{upper,work,root}; fi
    # Empty, PostgreSQL-owned, like a fresh install before any cluster exists.
    chown postgres:postgres "$hd/etc-postgresql" "$hd/lib-postgresql"
    chmod 0755 "$hd/etc-postgresql" "$hd/lib-postgresql"
    # /var/log/postgresql as the Debian package leaves it (root:postgres 1775).
    chown root:postgres "$hd/log/postgresql"
    chmod 1775 "$hd/log/postgresql"

    # A stock home, never the machine's own /root: its .bashrc runs pyenv and
    # costs ~100 ms on every command that arrives over ssh.
    for home in "$hd/root" "$hd/home/labadmin"; do
        cp /usr/share/base-files/dot.bashrc "$home/.bashrc"
        cp /usr/share/base-files/dot.profile "$home/.profile"
        cp "$DIR/id_ed25519.pub" "$home/.ssh/authorized_keys"
        chmod 0700 "$home/.ssh"
        chmod 0600 "$home/.ssh/authorized_keys"
    done
    chmod 0700 "$hd/root"

    cat >"$hd/sshd_config" <<EOF
# sshd of lab host ${HOSTNAME_OF[$role]} (lab '$NAME'); started by init.sh.
ListenAddress ${IP[$role]}:22
HostKey $hd/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
PrintLastLog no
X11Forwarding no
Subsystem sftp internal-sftp
EOF

    # Runs as PID 1 of the host's PID namespace, already inside its network
    # namespace, with private mount/UTS/IPC namespaces.  POSIX sh (dash).
    {
    cat <<EOF
#!/bin/sh
# PID 1 of lab host ${HOSTNAME_OF[$role]} (lab '$NAME').  Written by lab.sh.
set -eu
HD='$hd'
C='$hc'

echo '${HOSTNAME_OF[$role]}' >/proc/sys/kernel/hostname

# /etc: copy-on-write over the real one, so useradd and pg_createcluster can
# write without touching the machine (bind-mounting single files breaks
# useradd's rename with EBUSY).
mount -t overlay overlay -o "lowerdir=/etc,upperdir=\$C/etc-upper,workdir=\$C/etc-work" /etc
echo '${HOSTNAME_OF[$role]}' >/etc/hostname
cat >/etc/hosts <<'HOSTS'
127.0.0.1	localhost
EOF
    local r
    for r in "${ROLES[@]}"; do
        printf '%s\t%s %s\n' "${IP[$r]}" "${HOSTNAME_OF[$r]}" "${ALIAS[$r]}"
    done
    cat <<EOF
::1	localhost ip6-localhost ip6-loopback
HOSTS

EOF
    if ((BARE)); then bare_init_sh; fi
    cat <<EOF
# PostgreSQL installed (binaries from the shared /usr) but no cluster at all.
mount --bind "\$HD/etc-postgresql" /etc/postgresql
mount --bind "\$HD/lib-postgresql" /var/lib/postgresql
mount --bind "\$HD/log" /var/log

mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mkdir -m 0755 /run/sshd /run/lock
mkdir -m 2775 /run/postgresql
chown postgres:postgres /run/postgresql

mount --bind "\$HD/root" /root
mount --bind "\$HD/home" /home

# labadmin: the non-root login with passwordless sudo.  Password field '*'
# (not '!'), or sshd without PAM treats the account as locked.
if getent passwd labadmin >/dev/null; then
    usermod -d /home/labadmin -s /bin/bash -p '*' labadmin
else
    useradd -M -d /home/labadmin -s /bin/bash -U -p '*' -c 'lab admin' labadmin
fi
chown -R labadmin:labadmin /home/labadmin
echo 'labadmin ALL=(ALL) NOPASSWD:ALL' >/etc/sudoers.d/labadmin
chmod 0440 /etc/sudoers.d/labadmin

mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
# Last: anything above that lived under /tmp would be hidden from here on.
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp

cd /
/usr/sbin/sshd -D -f "\$HD/sshd_config" -E "\$HD/sshd.log" </dev/null &
echo "init: sshd started" >&2

# As PID 1, reap orphans (daemonised postgres, its children, ...) forever:
# dash's wait reaps any child while it waits for its own jobs, and the sleep
# keeps a job around should sshd ever exit.
while :; do
    sleep 3600 &
    wait || :
done
EOF
    } >"$hd/init.sh"
}

# ---------------------------------------------------------------- --bare --
#
# A bare host sees the machine's /usr and /var through overlays of its own, so
# it has its own dpkg state, from which the PostgreSQL server packages
# (postgresql-NN) have been purged.  `up --bare`:
#   1. purges them once, in a throw-away namespace (no network, the machine's
#      clusters masked) over copy-on-write views of /etc, /usr and /var whose
#      upper dirs land in DIR/bare; each host's upper dirs start as copies;
#   2. asks apt (in the root namespace, with the purged dpkg status) which
#      .debs installing those packages on such a host takes, and fetches the
#      ones DEB_CACHE lacks with `apt-get download` (the machine's sources);
#   3. indexes them in DIR/repo (dpkg-scanpackages) and serves that over HTTP
#      on the bridge address; the hosts' apt sources name only that.

# POSIX sh for init.sh and prep.sh: bare_tree TREE KEY mounts an overlay over
# TREE with upper dir $U/KEY-upper.  It is built at $U/KEY-root first, where
# the lab directory (which may lie below TREE) is bound back in: the host then
# reaches its lab files (sshd config, logs, its own upper dirs) directly, not
# through the overlay; then it is moved over TREE.
bare_tree_sh() {
    cat <<'EOF'
bare_tree() {
    mount -t overlay overlay -o "lowerdir=$1,upperdir=$U/$2-upper,workdir=$U/$2-work" "$U/$2-root"
    case $LAB/ in "$1"/*) mount --bind "$LAB" "$U/$2-root${LAB#"$1"}" ;; esac
    mount --move "$U/$2-root" "$1"
}
EOF
}

# The part of a bare host's init.sh that comes right after /etc is set up.
bare_init_sh() {
    cat <<EOF
# Bare host (up --bare): /usr and /var are copy-on-write too, so the host's
# dpkg state is its own; lab.sh purged the PostgreSQL server from them.  apt
# knows one source only, the lab's repository on the bridge (there is no
# route anywhere else either).
U="\$C"
LAB='$DIR'
EOF
    bare_tree_sh
    cat <<EOF
bare_tree /usr usr
bare_tree /var var
rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*
echo 'deb [trusted=yes] http://$BRIDGE_IP:$REPO_PORT/ ./' >/etc/apt/sources.list.d/pgrepl-lab.list
echo 'Acquire::http::Proxy::$BRIDGE_IP "DIRECT";' >/etc/apt/apt.conf.d/99pgrepl-lab

EOF
}

# Step 1: DIR/bare/{etc,usr,var}-upper := what purging the server changes.
bare_purge() {
    local t
    mapfile -t SERVER_PKGS < <(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' 'postgresql-*' 2>/dev/null |
        awk '$1 ~ /^.i/ && $2 ~ /^postgresql-[0-9]+(\.[0-9]+)?$/ { print $2 }')
    ((${#SERVER_PKGS[@]})) || die "--bare: no postgresql-NN server package installed on this machine"
    info "bare hosts: purging ${SERVER_PKGS[*]} from their copy-on-write /usr and /var"
    for t in etc usr var; do mkdir -p "$BARE_COW/$t"-{upper,work}; done
    mkdir -p "$BARE_COW"/{usr,var}-root "$BARE_DIR/no-sources" "$BARE_COW/usr-upper/sbin"
    # No service starts by itself on a host, as on this machine; keep it so
    # even where the machine has no such policy.
    printf '#!/bin/sh\nexit 101\n' >"$BARE_COW/usr-upper/sbin/policy-rc.d"
    chmod 0755 "$BARE_COW/usr-upper/sbin/policy-rc.d"
    {
        cat <<EOF
#!/bin/sh
# Purges the PostgreSQL server from copy-on-write views of /etc, /usr and
# /var; the changes land in \$U/*-upper.  Runs in its own mount, PID and
# (empty) network namespaces, the machine's clusters masked.  By lab.sh.
set -eu
U='$BARE_COW'
LAB='$DIR'
mount -t overlay overlay -o "lowerdir=/etc,upperdir=\$U/etc-upper,workdir=\$U/etc-work" /etc
EOF
        bare_tree_sh
        cat <<EOF
bare_tree /usr usr
bare_tree /var var
mount -t tmpfs -o mode=0755 tmpfs /etc/postgresql
mount -t tmpfs -o mode=0755 tmpfs /var/lib/postgresql
mount -t tmpfs -o mode=0755 tmpfs /var/log
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p /run/lock /var/log/apt
cd /
# No sources: a removal needs no package lists, and reading this machine's
# costs apt a second.
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q -o Dir::Etc::SourceList=/dev/null \\
    -o Dir::Etc::SourceParts='$BARE_DIR/no-sources' ${SERVER_PKGS[*]}
EOF
    } >"$BARE_DIR/prep.sh"
    unshare --mount --uts --ipc --pid --net --fork --kill-child --mount-proc \
        --propagation private /bin/sh "$BARE_DIR/prep.sh" \
        </dev/null >"$BARE_DIR/prep.log" 2>&1 {LOCK_FD}>&- || {
        tail -n 20 "$BARE_DIR/prep.log" >&2
        die "--bare: purging ${SERVER_PKGS[*]} failed; see $BARE_DIR/prep.log"
    }
    [[ -s $BARE_COW/var-upper/lib/dpkg/status ]] || die "--bare: the purge left no dpkg status"
}

# Prints "FILE SIZE SPEC" for each .deb that installing SERVER_PKGS on a bare
# host takes: apt's own answer for the purged dpkg status and this machine's
# sources, package lists and configuration (Recommends included, as on a
# host).  SPEC is what `apt-get download` takes.
bare_closure() {
    local arch uri file size _ name rest ver parch
    arch=$(dpkg --print-architecture)
    mkdir -p "$BARE_DIR/archives/partial"
    apt-get --print-uris -qq -o Debug::NoLocking=1 \
        -o Dir::State::status="$BARE_COW/var-upper/lib/dpkg/status" \
        -o Dir::Cache::Archives="$BARE_DIR/archives/" \
        install "${SERVER_PKGS[@]}" >"$BARE_DIR/closure" 2>"$BARE_DIR/closure.err" || return 1
    while read -r uri file size _; do
        [[ $uri == "'"*"'" && $file == *_*_*.deb ]] || continue
        name=${file%%_*} rest=${file#*_}
        ver=${rest%_*} parch=${rest##*_}
        parch=${parch%.deb} ver=${ver//%3a/:}
        if [[ $parch == all || $parch == "$arch" ]]; then
            printf '%s %s %s=%s\n' "$file" "$size" "$name" "$ver"
        else
            printf '%s %s %s:%s=%s\n' "$file" "$size" "$name" "$parch" "$ver"
        fi
    done <"$BARE_DIR/closure"
}

# Step 2: DEBS := the closure's files, all present in DEB_CACHE.
bare_fetch() {
    local attempt file size spec line total
    local -a lines
    local -a want
    mkdir -p "$DEB_CACHE"
    # apt-get download fetches as _apt, which must be able to write here.
    if getent passwd _apt >/dev/null; then chown _apt:root "$DEB_CACHE"; fi
    # One downloader at a time (labs of other names share the cache).
    exec {CACHE_FD}>>"${DEB_CACHE%/*}/debs.lock"
    flock -w 600 "$CACHE_FD" || die "--bare: $DEB_CACHE is locked by another lab.sh"
    for attempt in 1 2; do
        DEBS=() want=() total=0
        if mapfile -t lines < <(bare_closure) && [[ -s $BARE_DIR/closure ]] && ((${#lines[@]})); then
            for line in "${lines[@]}"; do
                read -r file size spec <<<"$line"
                DEBS+=("$file")
                # apt-get download checks the hashes; a cached file of the
                # right size is taken as it is.
                if [[ -f $DEB_CACHE/$file && $(stat -c %s "$DEB_CACHE/$file") == "$size" ]]; then
                    continue
                fi
                rm -f "$DEB_CACHE/$file"
                want+=("$spec")
                total=$((total + size))
            done
            ((${#want[@]})) || break
            info "bare hosts: downloading ${#want[@]} of ${#DEBS[@]} .debs ($((total / 1048576)) MiB) into $DEB_CACHE"
            if (cd "$DEB_CACHE" && apt-get download -q "${want[@]}") >"$BARE_DIR/download.log" 2>&1; then
                continue  # check again: every file present now?
            fi
            ((attempt == 1)) || { tail -n 20 "$BARE_DIR/download.log" >&2; die "--bare: apt-get download failed"; }
        elif ((attempt == 2)); then
            cat "$BARE_DIR/closure.err" >&2
            die "--bare: apt cannot tell what installing ${SERVER_PKGS[*]} takes"
        fi
        # Stale or missing package lists are the usual cause: refresh, retry.
        info "bare hosts: refreshing this machine's package lists (apt-get update)"
        apt-get update -qq || die "--bare: apt-get update failed"
    done
    for file in "${DEBS[@]}"; do
        [[ -f $DEB_CACHE/$file ]] || die "--bare: $file still missing from $DEB_CACHE"
    done
    exec {CACHE_FD}>&-
}

# Step 3a: DIR/repo, a flat repository of exactly DEBS (hard links into the
# cache, so a later download cannot change what this lab serves).
bare_repo() {
    local file
    rm -rf "$REPO_DIR"
    mkdir -p "$REPO_DIR"
    for file in "${DEBS[@]}"; do
        ln "$DEB_CACHE/$file" "$REPO_DIR/$file" 2>/dev/null || cp "$DEB_CACHE/$file" "$REPO_DIR/$file"
    done
    (cd "$REPO_DIR" && dpkg-scanpackages --multiversion . 2>/dev/null >Packages) ||
        die "--bare: dpkg-scanpackages failed"
    gzip -9 -k "$REPO_DIR/Packages"
    # A Release file (unsigned: the hosts say [trusted=yes]) names the index
    # files, so apt asks for those instead of probing Packages.xz, .bz2, ...
    local f
    {
        echo "Origin: pgrepl-lab"
        echo "Label: pgrepl-lab $NAME"
        echo "Date: $(LC_ALL=C date -Ru)"
        echo "SHA256:"
        for f in Packages Packages.gz; do
            printf ' %s %s %s\n' "$(sha256sum <"$REPO_DIR/$f" | cut -d' ' -f1)" \
                "$(stat -c %s "$REPO_DIR/$f")" "$f"
        done
    } >"$REPO_DIR/Release"
    chmod -R a+rX "$REPO_DIR"
}

bare_prepare() {
    bare_purge
    bare_fetch
    bare_repo
    local role t
    for role in "${ROLES[@]}"; do
        for t in etc usr var; do cp -a "$BARE_COW/$t-upper/." "${HOSTCOW[$role]}/$t-upper/"; done
    done
}

# Step 3b: the repository's HTTP server, on the bridge address only.  Its log
# (one line per request) is DIR/repo.log.
start_repo_server() {
    setsid /usr/bin/python3 -m http.server --bind "$BRIDGE_IP" --directory "$REPO_DIR" "$REPO_PORT" \
        </dev/null >>"$DIR/repo.log" 2>&1 {LOCK_FD}>&- &
    local pid=$! tries
    echo "$pid" >"$DIR/repo.pid"
    disown "$pid"
    # (Not repo_server_pid: until setsid has exec'd, the child's command line
    # is still ours.)
    for ((tries = 0; tries < 200; tries++)); do
        if (exec 3<>"/dev/tcp/$BRIDGE_IP/$REPO_PORT") 2>/dev/null; then return 0; fi
        alive "$pid" || break
        sleep 0.025
    done
    tail -n 5 "$DIR/repo.log" >&2
    return 1
}

setup_network() {
    # IPv6 off on everything the lab adds (loopback keeps ::1), so the new
    # links do not chatter router solicitations and MLD onto the bridge.
    ip link add "$BRIDGE" type bridge
    echo 1 >"/proc/sys/net/ipv6/conf/$BRIDGE/disable_ipv6" 2>/dev/null || true
    ip addr add "$BRIDGE_IP/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up

    local role ns
    for role in "${ROLES[@]}"; do
        ns=${NETNS[$role]}
        ip netns add "$ns"
        nsenter --net="/run/netns/$ns" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6' 2>/dev/null || true
        # Created straight inside the namespace as eth0; no default route, so
        # the host can reach the lab subnet and nothing else.
        ip link add "${VETH[$role]}" type veth peer name eth0 netns "$ns"
        echo 1 >"/proc/sys/net/ipv6/conf/${VETH[$role]}/disable_ipv6" 2>/dev/null || true
        ip link set "${VETH[$role]}" master "$BRIDGE" up
        ip -n "$ns" addr add "${IP[$role]}/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" link set lo up
    done
}

start_host() {
    local role=$1 hd
    hd=${HOSTDIR[$role]}
    # setsid: own session, so no terminal signal reaches the host.  All fds go
    # to a log: a caller reading our stdout through a pipe must see EOF when we
    # exit, not when the lab goes down.  $! stays the pid of `unshare`: a
    # background job of a non-interactive shell is no process-group leader,
    # so setsid does not fork, and setsid, nsenter and unshare all exec in
    # place.  nsenter, not `ip netns exec`: the latter remounts / as a slave,
    # which fails where / is no mount point (a chroot into a plain directory).
    setsid nsenter --net="/run/netns/${NETNS[$role]}" \
        unshare --mount --uts --ipc --pid --fork --kill-child --mount-proc \
        --propagation private /bin/sh "$hd/init.sh" \
        </dev/null >>"$hd/init.log" 2>&1 {LOCK_FD}>&- &
    echo "$!" >"$hd/unshare.pid"
    # Not our job any more: no "Killed" notice from bash when `down` kills it.
    disown "$!"
}

# Polls every host's sshd in parallel: fresh ssh connections, short timeouts, no
# fixed sleeps.  ~10 s budget.
wait_for_sshd() {
    local role
    local -A waiter=()
    for role in "${ROLES[@]}"; do
        (
            deadline=$((SECONDS + 10))
            while ((SECONDS < deadline)); do
                ssh_answers "$role" 1 && exit 0
                host_pid "$role" >/dev/null || exit 2  # host died: no point waiting
                sleep 0.05
            done
            exit 1
        ) &
        waiter[$role]=$!
    done
    local failed=0 rc
    for role in "${ROLES[@]}"; do
        rc=0; wait "${waiter[$role]}" || rc=$?
        case $rc in
            0) ;;
            2) warn "host $role died while starting; see ${HOSTDIR[$role]}/init.log"; failed=1 ;;
            *) warn "sshd of $role (${IP[$role]}) did not answer within 10 s; see ${HOSTDIR[$role]}/sshd.log"; failed=1 ;;
        esac
    done
    return "$failed"
}

cmd_up() {
    require_root
    preflight
    ensure_packages
    take_lock
    derive_addresses

    if [[ -e $DIR && ! -e $DIR/lab.env ]] && [[ -n $(ls -A "$DIR") ]]; then
        die "$DIR exists, is not empty and is not a pgrepl lab directory"
    fi
    # Always a fresh lab: whatever of this name exists (whole or half built)
    # goes first, so `up` twice gives the same clean result.
    teardown
    check_conflicts

    mkdir -p "$DIR"
    chmod 0755 "$DIR"
    prepare_cow
    local role
    for role in "${ROLES[@]}"; do mkdir -p "${HOSTDIR[$role]}"; done
    {
        echo "# lab.sh state for lab '$NAME'"
        echo "NAME=$NAME"
        echo "SUBNET=$SUBNET"
        echo "STANDBYS=$STANDBYS"
        echo "BRIDGE=$BRIDGE"
        for role in "${ROLES[@]}"; do
            echo "${role^^}_IP=${IP[$role]}"
            echo "${role^^}_NETNS=${NETNS[$role]}"
            echo "${role^^}_VETH=${VETH[$role]}"
        done
        if ((BARE)); then
            echo "BARE=1"
            echo "REPO_URL=http://$BRIDGE_IP:$REPO_PORT/"
        fi
    } >"$DIR/lab.env"

    write_keys
    write_ssh_config
    for role in "${ROLES[@]}"; do write_host_files "$role"; done
    write_pgrepl_toml "$DIR/pgrepl.toml" root
    write_pgrepl_toml "$DIR/pgrepl-sudo.toml" labadmin
    if ((BARE)); then bare_prepare; fi

    setup_network
    if ((BARE)) && ! start_repo_server; then
        warn "the package repository of lab '$NAME' did not start; tearing the lab down"
        teardown
        exit 1
    fi
    for role in "${ROLES[@]}"; do start_host "$role"; done

    if ! wait_for_sshd; then
        warn "lab '$NAME' failed to come up; tearing it down"
        teardown
        exit 1
    fi
    for role in "${ROLES[@]}"; do
        info "$role: ${HOSTNAME_OF[$role]} ${IP[$role]} (ssh -F $DIR/ssh_config ${ALIAS[$role]})"
    done
    if ((BARE)); then
        info "repo: http://$BRIDGE_IP:$REPO_PORT/ (${#DEBS[@]} .debs; the hosts' only apt source; no server installed on the hosts)"
    fi
    info "config: $DIR/pgrepl.toml"
}

cmd_down() {
    require_root
    take_lock
    derive_addresses recorded
    teardown
}

cmd_status() {
    derive_addresses recorded
    local role state sshd all_ok=1
    info "lab $NAME ($DIR, subnet $SUBNET)"
    for role in "${ROLES[@]}"; do
        state=down sshd=-
        if host_pid "$role" >/dev/null; then
            state=up
            if [[ -r $DIR/ssh_config ]] && ssh_answers "$role" 2; then sshd=answers; else sshd="not answering"; fi
        fi
        [[ $state == up && $sshd == answers ]] || all_ok=0
        printf '%-8s %-5s %-15s sshd %s\n' "$role" "$state" "${IP[$role]}" "$sshd"
    done
    if [[ -r $DIR/lab.env ]] && grep -qx 'BARE=1' "$DIR/lab.env"; then
        state=down
        repo_server_pid >/dev/null && state=up
        [[ $state == up ]] || all_ok=0
        printf '%-8s %-5s %s\n' repo "$state" "http://$BRIDGE_IP:$REPO_PORT/ ($REPO_DIR)"
    fi
    ((all_ok)) || exit 3
}

main() {
    parse_args "$@"
    derive_names
    case $CMD in
        up) cmd_up ;;
        down) cmd_down ;;
        status) cmd_status ;;
    esac
}

main "$@"
