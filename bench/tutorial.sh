#!/usr/bin/env bash
# The baseline: the tutorial's commands as a plain script, one after the other, over one
# multiplexed ssh connection per host (ControlMaster). Same commands pgrepl runs on a Debian
# host without systemd (pg_ctl -w, pg_basebackup -c fast), none of its checks or journal.
#   bash bench/tutorial.sh LAB_DIR PRIMARY_IP STANDBY_IP CIDR
set -euo pipefail
dir=$1 p_ip=$2 s_ip=$3 cidr=$4
ctl=$(mktemp -d /tmp/bench-cm.XXXXXX)
trap 'ssh -F "$dir/ssh_config" -o ControlPath="$ctl/%h" -O exit "$p_ip" 2>/dev/null; ssh -F "$dir/ssh_config" -o ControlPath="$ctl/%h" -O exit "$s_ip" 2>/dev/null; rm -rf "$ctl"' EXIT
ssh_() { ssh -F "$dir/ssh_config" -o ControlMaster=auto -o ControlPath="$ctl/%h" -o ControlPersist=60 "root@$1" "cd / && $2"; }
P() { ssh_ "$p_ip" "$1"; }
S() { ssh_ "$s_ip" "$1"; }
conf=/etc/postgresql/15/main
data=/var/lib/postgresql/15/main
pgctl="runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D $data -o '-c config_file=$conf/postgresql.conf' -l /var/log/postgresql/postgresql-15-main.log -w"
psql="runuser -u postgres -- psql -X -q -At -d postgres"

# install: the server is there; create and start the primary's cluster, create the standby's.
P "pg_createcluster -p 5432 15 main >/dev/null && $pgctl start >/dev/null"
S "pg_createcluster -p 5432 15 main >/dev/null"
# replica-role
P "echo \"CREATE ROLE replica LOGIN REPLICATION PASSWORD 'bench';\" | $psql"
# whitelist
P "printf 'host replication replica $cidr scram-sha-256\nhost all all $cidr scram-sha-256\n' >> $conf/pg_hba.conf"
P "printf \"listen_addresses = '*'\nwal_level = replica\nmax_wal_senders = 10\nwal_sender_timeout = '60s'\nmax_connections = 100\nsynchronous_commit = on\n\" >> $conf/postgresql.conf"
P "$pgctl -m fast restart >/dev/null"
# base-backup
S "umask 077 && echo '$p_ip:5432:*:replica:bench' > /var/lib/postgresql/.pgpass && chown postgres:postgres /var/lib/postgresql/.pgpass"
S "mv $data $data.old && install -d -o postgres -g postgres -m 700 $data"
S "runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_basebackup -h $p_ip -p 5432 -U replica -D $data -X stream -P -c fast -w 2>/dev/null"
S "printf \"hot_standby = on\nhot_standby_feedback = on\nprimary_conninfo = 'host=$p_ip port=5432 user=replica'\n\" >> $conf/postgresql.conf && touch $data/standby.signal && chown -R postgres:postgres $data"
S "$pgctl start >/dev/null"
# verify: wait for streaming, then a row's round trip.
until [ "$(P "echo 'SELECT state FROM pg_stat_replication;' | $psql")" = streaming ]; do sleep 0.1; done
P "echo 'CREATE TABLE canary (v int); INSERT INTO canary VALUES (1);' | $psql"
until [ "$(S "echo 'SELECT count(*) FROM canary;' | $psql 2>/dev/null")" = 1 ]; do sleep 0.1; done
