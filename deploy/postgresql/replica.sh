#!/bin/sh
# Make the streaming replica (run on db2 as postgres, with the primary's data in place).
# pg_hba.conf on the primary needs:  host replication replicator 10.0.0.0/24 scram-sha-256
set -e
PGDATA=${PGDATA:-/var/lib/postgresql/16/main}
pg_basebackup -h db1.lamppost.internal -U replicator -D "$PGDATA" -R -X stream -C -S replica1 \
    -d "application_name=replica1"
echo "replica ready: start PostgreSQL; promote with  pg_ctl promote -D $PGDATA"
