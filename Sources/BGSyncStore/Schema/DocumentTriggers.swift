/// The SQL of the `documents` view's `INSERT` and `UPDATE` triggers from schema version 2: they
/// refuse exactly what ``DocumentRules`` refuses, with SQLite's built-in functions only (no
/// function of bgsync's own), so that they hold for every client — the `sqlite3` shell,
/// Python, C — and for every SQLite from 3.38 (JSON built in) on.
///
/// Each check is one `SELECT RAISE(ABORT, 'bgsync: …') WHERE …` statement; the cheap test of
/// each comes first in its `WHERE`, so that an ordinary document costs a few linear scans:
/// * UTF-8: ASCII text passes at once; other text goes through a chain of `replace` calls that
///   maps every byte to its class (lead of 2, 3 or 4 bytes, continuation) and then removes
///   every well-formed sequence: anything left above 0x7F is not UTF-8.
/// * Lone surrogate escapes (`\uD800` without its pair), which `json_valid` accepts: only
///   when the text holds `\ud` at all.
/// * Depth: only when the body holds more than 512 brackets, and then only when some value's
///   path is longer than 512 characters, is the depth counted (recursively over `json_tree`).
enum DocumentTriggers {
    /// JSON's white space, as an SQL expression for `trim`.
    static let whitespace = "' ' || char(9) || char(10) || char(13)"

    /// A GLOB pattern matching text that holds any character outside U+0001–U+007F.
    static let nonASCII = "('*[^' || char(1) || '-' || char(127) || ']*')"

    /// The `replace` steps of the UTF-8 check: (find, put) as hex bytes.
    static let utf8Steps: [(find: String, put: String)] = {
        var steps: [(String, String)] = []
        func map(_ bytes: [Int], to target: Int) {
            for byte in bytes { steps.append((hex(byte), hex(target))) }
        }
        // Classes: continuation bytes by the ranges the special leads need; leads by length.
        map(Array(0x81...0x8F), to: 0x80)
        map(Array(0x91...0x9F), to: 0x90)
        map(Array(0xA1...0xBF), to: 0xA0)
        map(Array(0xC3...0xDF), to: 0xC2)
        map(Array(0xE2...0xEC) + [0xEE, 0xEF], to: 0xE1)
        map([0xF2, 0xF3], to: 0xF1)
        // Well-formed sequences (RFC 3629 table 3-7), removed; C0, C1 and F5–FF never are.
        let any = ["80", "90", "A0"]
        var sequences: [String] = any.map { "C2" + $0 }
        sequences += any.map { "E0A0" + $0 }
        sequences += any.flatMap { a in any.map { "E1" + a + $0 } }
        sequences += ["80", "90"].flatMap { a in any.map { "ED" + a + $0 } }
        sequences += ["90", "A0"].flatMap { a in any.flatMap { b in any.map { "F0" + a + b + $0 } } }
        sequences += any.flatMap { a in any.flatMap { b in any.map { "F1" + a + b + $0 } } }
        sequences += any.flatMap { b in any.map { "F480" + b + $0 } }
        steps += sequences.map { ($0, "75") }  // 'u'
        return steps
    }()

    private static func hex(_ byte: Int) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[byte >> 4], digits[byte & 0xF]])
    }

    /// True when `value` (text or blob without NUL bytes) is not well-formed UTF-8. SQLite's
    /// parser allows only a few dozen nested calls, so the `replace` chain is split into a
    /// chain of common table expressions of 12 calls each.
    static func invalidUTF8(_ value: String) -> String {
        var ctes = ["u0(v) AS (SELECT CAST(\(value) AS BLOB))"]
        var index = 0
        for chunkStart in stride(from: 0, to: utf8Steps.count, by: 12) {
            var expression = "v"
            for step in utf8Steps[chunkStart..<min(chunkStart + 12, utf8Steps.count)] {
                expression = "replace(\(expression), X'\(step.find)', X'\(step.put)')"
            }
            index += 1
            ctes.append("u\(index)(v) AS (SELECT \(expression) FROM u\(index - 1))")
        }
        return "(\(value) GLOB \(nonASCII) AND EXISTS (WITH \(ctes.joined(separator: ", ")) SELECT 1 FROM u\(index) WHERE v GLOB \(nonASCII)))"
    }

    /// True when the JSON text `value` holds a `\u` escape of half a surrogate pair: after
    /// escaped backslashes are set aside, high halves become char(1) and low halves char(2),
    /// which must stand exactly as `char(1) h h char(2)`.
    static func loneSurrogate(_ value: String) -> String {
        var marked = "lower(replace(\(value), '\\\\', '##'))"
        for digit in ["8", "9", "a", "b"] { marked = "replace(\(marked), '\\ud\(digit)', char(1))" }
        for digit in ["c", "d", "e", "f"] { marked = "replace(\(marked), '\\ud\(digit)', char(2))" }
        let bad = [
            "'*' || char(1) || '??[^' || char(2) || ']*'", "'*' || char(1)", "'*' || char(1) || '?'", "'*' || char(1) || '??'",
            "'*[^' || char(1) || ']??' || char(2) || '*'", "char(2) || '*'", "'?' || char(2) || '*'", "'??' || char(2) || '*'",
        ].map { "t GLOB \($0)" }.joined(separator: " OR ")
        return "(instr(lower(\(value)), '\\ud') > 0 AND EXISTS (SELECT 1 FROM (SELECT \(marked) AS t) WHERE \(bad)))"
    }

    /// True when the JSON text `value` nests arrays and objects more than
    /// ``DocumentRules/maximumDepth`` deep. A container at depth d has a path (`fullkey`) of at
    /// least d characters, so only a long path makes the exact count necessary.
    static func tooDeep(_ value: String) -> String {
        let limit = DocumentRules.maximumDepth
        return """
            (length(CAST(\(value) AS BLOB)) - length(CAST(replace(replace(\(value), '{', ''), '[', '') AS BLOB)) > \(limit)
                    AND EXISTS (SELECT 1 FROM json_tree(\(value)) WHERE type IN ('object', 'array') AND length(fullkey) > \(limit))
                    AND (WITH RECURSIVE n(id, parent) AS MATERIALIZED (SELECT id, parent FROM json_tree(\(value)) WHERE type IN ('object', 'array')),
                              d(id, level) AS (SELECT id, 1 FROM n WHERE parent IS NULL
                                               UNION ALL SELECT n.id, d.level + 1 FROM n JOIN d ON n.parent = d.id)
                         SELECT max(level) FROM d) > \(limit))
            """
    }

    /// The checks of a new body `value`; `deleting` is true when the write makes a tombstone
    /// (which may leave the body NULL).
    static func bodyChecks(_ value: String, deleting: String) -> String {
        let limit = DocumentRules.maximumBodyBytes
        return """
                SELECT RAISE(ABORT, 'bgsync: documents.body must not be NULL: give a JSON object such as ''{}'' (only a deletion may leave it NULL)')
                WHERE \(value) IS NULL AND NOT (\(deleting));
                SELECT RAISE(ABORT, 'bgsync: documents.body must be a JSON object as text, for example ''{"title":"x"}''')
                WHERE \(value) IS NOT NULL AND typeof(\(value)) <> 'text';
                SELECT RAISE(ABORT, 'bgsync: documents.body is larger than 256 MiB (\(limit) bytes), the most a document may hold')
                WHERE length(CAST(\(value) AS BLOB)) > \(limit);
                SELECT RAISE(ABORT, 'bgsync: documents.body contains a NUL byte, which JSON text cannot (write \\u0000 inside a string)')
                WHERE instr(CAST(\(value) AS BLOB), X'00') > 0;
                SELECT RAISE(ABORT, 'bgsync: documents.body is not valid UTF-8; store text as UTF-8')
                WHERE \(value) IS NOT NULL AND \(invalidUTF8(value));
                SELECT RAISE(ABORT, 'bgsync: documents.body must be a JSON object as text, for example ''{"title":"x"}''')
                WHERE \(value) IS NOT NULL AND (NOT json_valid(\(value)) OR json_type(\(value)) <> 'object');
                SELECT RAISE(ABORT, 'bgsync: documents.body has a \\u escape of half a surrogate pair (\\uD800-\\uDFFF without its other half), which is not a character')
                WHERE \(value) IS NOT NULL AND \(loneSurrogate(value));
                SELECT RAISE(ABORT, 'bgsync: documents.body is nested more than \(DocumentRules.maximumDepth) levels deep')
                WHERE \(value) IS NOT NULL AND \(tooDeep(value));
                SELECT RAISE(ABORT, 'bgsync: top-level keys starting with "_" are reserved for CouchDB metadata; rename the key')
                WHERE \(value) IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(\(value)) WHERE substr(key, 1, 1) = '_');
            """
    }

    /// The body as stored: the object without white space around it or just inside its
    /// braces (see ``DocumentRules``); `{}` for a NULL body (a tombstone).
    static func normalized(_ value: String) -> String {
        let trimmed = "trim(\(value), \(whitespace))"
        return "CASE WHEN \(value) IS NULL THEN '{}' ELSE '{' || trim(substr(\(trimmed), 2, length(\(trimmed)) - 2), \(whitespace)) || '}' END"
    }

    /// Demotes document `id`'s old winner (now a parent: no longer a leaf, body dropped) and
    /// elects the new one by CouchDB's rule.
    static func newWinner(_ id: String) -> String {
        """
            UPDATE revs SET leaf = 0, deleted = 0, body = NULL WHERE rev_id = (SELECT winner FROM docs WHERE id = \(id));
                UPDATE docs SET winner = (
                    SELECT rev_id FROM revs r WHERE r.doc_id = docs.doc_id AND r.leaf = 1
                    ORDER BY r.deleted, r.pos DESC, r.hash DESC LIMIT 1)
                WHERE id = \(id);
            """
    }

    /// Schema version 2: the triggers of version 1, with every rule of ``DocumentRules``.
    static let version2 = """
        DROP TRIGGER documents_insert;
        DROP TRIGGER documents_update;

        CREATE TRIGGER documents_insert INSTEAD OF INSERT ON documents
        BEGIN
            SELECT RAISE(ABORT, 'bgsync: documents.id must be non-empty text, and may start with "_" only as "_design/"')
            WHERE typeof(NEW.id) <> 'text' OR NEW.id = ''
               OR (substr(NEW.id, 1, 1) = '_' AND substr(NEW.id, 1, 8) <> '_design/');
            SELECT RAISE(ABORT, 'bgsync: documents.id contains a NUL byte')
            WHERE instr(CAST(NEW.id AS BLOB), X'00') > 0;
            SELECT RAISE(ABORT, 'bgsync: documents.id is not valid UTF-8; store text as UTF-8')
            WHERE \(invalidUTF8("NEW.id"));
            SELECT RAISE(ABORT, 'bgsync: documents.rev is assigned by bgsync: leave it out of INSERT (use it in UPDATE … WHERE for optimistic concurrency)')
            WHERE NEW.rev IS NOT NULL;
        \(bodyChecks("NEW.body", deleting: "coalesce(NEW.deleted, 0) <> 0"))
            SELECT RAISE(ABORT, 'bgsync: a document with this id exists; UPDATE it instead')
            WHERE EXISTS (SELECT 1 FROM docs d JOIN revs r ON r.rev_id = d.winner WHERE d.id = NEW.id AND r.deleted = 0);
            UPDATE store_info SET update_seq = update_seq + 1;
            INSERT INTO docs (id, seq) VALUES (NEW.id, (SELECT update_seq FROM store_info))
                ON CONFLICT (id) DO UPDATE SET seq = excluded.seq;
            INSERT INTO revs (doc_id, pos, hash, parent_hash, deleted, leaf, body)
                SELECT d.doc_id, coalesce(w.pos, 0) + 1, lower(hex(randomblob(16))), w.hash,
                       coalesce(NEW.deleted, 0) <> 0, 1, \(normalized("NEW.body"))
                FROM docs d LEFT JOIN revs w ON w.rev_id = d.winner WHERE d.id = NEW.id;
        \(newWinner("NEW.id"))
        END;

        CREATE TRIGGER documents_update INSTEAD OF UPDATE ON documents
        BEGIN
            SELECT RAISE(ABORT, 'bgsync: documents.id cannot change; INSERT a new document and DELETE the old one')
            WHERE NEW.id IS NOT OLD.id;
            SELECT RAISE(ABORT, 'bgsync: documents.rev is assigned by bgsync; use it in WHERE for optimistic concurrency, never SET it')
            WHERE NEW.rev IS NOT OLD.rev;
        \(bodyChecks("NEW.body", deleting: "coalesce(NEW.deleted, 0) <> 0"))
            UPDATE store_info SET update_seq = update_seq + 1;
            UPDATE docs SET seq = (SELECT update_seq FROM store_info) WHERE id = OLD.id;
            INSERT INTO revs (doc_id, pos, hash, parent_hash, deleted, leaf, body)
                SELECT d.doc_id, w.pos + 1, lower(hex(randomblob(16))), w.hash,
                       coalesce(NEW.deleted, 0) <> 0, 1, \(normalized("NEW.body"))
                FROM docs d JOIN revs w ON w.rev_id = d.winner WHERE d.id = OLD.id;
            INSERT INTO rev_attachments (rev_id, name, content_type, revpos, digest, length)
                SELECT (SELECT max(rev_id) FROM revs), a.name, a.content_type, a.revpos, a.digest, a.length
                FROM rev_attachments a
                WHERE a.rev_id = (SELECT winner FROM docs WHERE id = OLD.id) AND coalesce(NEW.deleted, 0) = 0;
        \(newWinner("OLD.id"))
        END;
        """
}
