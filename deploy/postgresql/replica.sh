#!/bin/sh
# Make the streaming replica (run on db2 as postgres, PostgreSQL stopped, $PGDATA absent or
# empty). pg_hba.conf on the primary needs:  host replication replicator 10.0.0.0/24 scram-sha-256
# The replication role exists on the primary (docs/fleet.md, "PostgreSQL primary and replica").
# Its password: ~postgres/.pgpass or PGPASSWORD. Every name below can be overridden from the
# environment (tests/ops/test_deploy.py runs this script against a throwaway primary):
#   PGDATA             the replica's data directory       (/var/lib/postgresql/16/main)
#   PRIMARY_HOST       the primary                        (db1.lamppost.internal)
#   PRIMARY_PORT       its port                           (5432)
#   REPLICATION_USER   the role with REPLICATION          (replicator)
#   REPLICA_NAME       slot and application_name; must be the name in the primary's
#                      synchronous_standby_names (deploy/postgresql/primary.conf)   (replica1)
# Arguments are passed on to pg_basebackup, e.g. --checkpoint=fast to start the copy at once
# (by default it waits for the primary's next spread checkpoint: minutes on a quiet primary).
set -e
PGDATA=${PGDATA:-/var/lib/postgresql/16/main}
PRIMARY_HOST=${PRIMARY_HOST:-db1.lamppost.internal}
PRIMARY_PORT=${PRIMARY_PORT:-5432}
REPLICATION_USER=${REPLICATION_USER:-replicator}
REPLICA_NAME=${REPLICA_NAME:-replica1}
# -R writes standby.signal and primary_conninfo (with application_name, which is how the
# primary recognises its synchronous standby); -C -S a physical slot: the primary keeps the
# WAL this replica has not received yet, however long it is away.
pg_basebackup -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$REPLICATION_USER" -D "$PGDATA" \
    -R -X stream -C -S "$REPLICA_NAME" -d "application_name=$REPLICA_NAME" "$@"
echo "replica ready: start PostgreSQL; promote with  pg_ctl promote -D $PGDATA"
