#!/usr/bin/env bash
# The main job on the embedded default, no server needed: contrib/examples/notes.toml syncs
# /tmp/bgsync-demo/notes.sqlite with a second local store through the factory registry.
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -q -c release --product bgsync 2>/dev/null || swift build -c release --product bgsync
bgsync=$PWD/.build/release/bgsync
data=/tmp/bgsync-demo
state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
mkdir -p "$data"
chmod go-w contrib/examples/notes.toml contrib/examples/registry.toml

stamp=$(date +%s)
echo '{"title":"Buy milk","done":false}' | "$bgsync" db "$data/notes.sqlite" put "note-$stamp"
echo '{"title":"Call Ada","done":true}' | "$bgsync" db "$data/backup.sqlite" put "backup-$stamp"
# Any SQLite client can write through the documents view; the triggers make real revisions.
sqlite3 "$data/notes.sqlite" "INSERT INTO documents (id, body) VALUES ('sql-$stamp', '{\"title\":\"Written with sqlite3\",\"priority\":1.0}')"

echo "--- bgsync check"
"$bgsync" check contrib/examples/notes.toml --state-dir "$state"
echo "--- bgsync run (pull, then push)"
"$bgsync" run contrib/examples/notes.toml --state-dir "$state" --json
echo "--- a second run is not due yet (interval 15m)"
"$bgsync" run contrib/examples/notes.toml --state-dir "$state"
echo "--- bgsync status"
"$bgsync" status --state-dir "$state"
echo "--- both stores hold the same documents"
"$bgsync" db "$data/notes.sqlite" ls
"$bgsync" db "$data/backup.sqlite" ls
