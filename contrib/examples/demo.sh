#!/usr/bin/env bash
# A first run with no server: two local bgsync databases, edits on both sides (one through
# plain SQL), one `bgsync sync`, and the result on both sides.
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -q -c release --product bgsync 2>/dev/null || swift build -c release --product bgsync
bgsync=.build/release/bgsync
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
phone="$dir/phone.sqlite"; server="$dir/server.sqlite"

echo '{"title":"Buy milk","done":false}' | "$bgsync" db "$phone" put note-1
echo '{"title":"Call Ada","done":true}'  | "$bgsync" db "$server" put note-2
# Any SQLite client can write through the documents view; the triggers make real revisions.
sqlite3 "$phone" "INSERT INTO documents (id, body) VALUES ('note-3', '{\"title\":\"Written with sqlite3\",\"priority\":1.0}')"

echo "--- sync (pull server -> phone, then push phone -> server)"
"$bgsync" sync "$phone" "$server" --json
echo "--- phone";  "$bgsync" db "$phone" ls
echo "--- server"; "$bgsync" db "$server" ls
echo "--- a second run has nothing to do"
"$bgsync" sync "$phone" "$server"
"$bgsync" db "$server" get note-3 --revs
