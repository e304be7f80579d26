import BGSyncTestSupport
import BGSyncStore
import Foundation
import Testing

/// The public SQL contract (DESIGN §3): any SQLite client writes documents through the
/// `documents(id, rev, deleted, body)` view, and the `INSTEAD OF` triggers make proper revisions.
/// Checked with the real `sqlite3` shell and Python's `sqlite3` module, as separate processes.
@Suite("SQL contract")
struct SQLContractTests {
    enum Client: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case sqlite3Shell = "sqlite3 shell"
        case python = "python3 sqlite3 module"

        var testDescription: String { rawValue }

        /// Runs a script of SQL statements in autocommit mode.
        func run(_ database: String, _ script: String) throws -> TestProcess.Result {
            switch self {
            case .sqlite3Shell:
                return try Subprocess.sqlite(database, script)
            case .python:
                return try Subprocess.python("""
                    import sqlite3, sys
                    db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
                    try:
                        db.executescript(sys.argv[2])
                    except sqlite3.Error as error:
                        print(error, file=sys.stderr)
                        sys.exit(1)
                    """, [database, script])
            }
        }

        /// Runs `script` and records an issue unless it succeeds.
        func mustRun(_ database: String, _ script: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let result = try run(database, script)
            #expect(result.status == 0, "\(rawValue): \(result.stderr)", sourceLocation: sourceLocation)
        }
    }

    static func isCouchHash(_ hash: String) -> Bool {
        hash.utf8.count == 32 && hash.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    @Test("INSERT, UPDATE, DELETE and INSERT again make a chain of revisions, each a new change",
          arguments: Client.allCases)
    func lifecycle(client: Client) throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try client.mustRun(store.path, #"INSERT INTO documents (id, body) VALUES ('n1', '{"title":"x","n":1.0}');"#)
            let tree1 = try #require(try store.tree("n1"))
            let r1 = try #require(tree1.winner?.rev)
            #expect(r1.generation == 1)
            #expect(Self.isCouchHash(r1.hash))
            #expect(try store.document("n1", DocumentOptions(revs: true)) == #"{"_id":"n1","_rev":"\#(r1)","title":"x","n":1.0,"_revisions":{"start":1,"ids":["\#(r1.hash)"]}}"#)
            #expect(try store.changes().map { "\($0.seq) \($0.id) \($0.leaves)" } == ["1 n1 [\(r1)]"])

            try client.mustRun(store.path, #"UPDATE documents SET body = '{"title":"y"}' WHERE id = 'n1';"#)
            let r2 = try #require(try store.tree("n1")?.winner?.rev)
            #expect(r2.generation == 2)
            #expect(try store.tree("n1")?.parent(of: r2) == r1)
            #expect(try store.document("n1") == #"{"_id":"n1","_rev":"\#(r2)","title":"y"}"#)
            #expect(try store.changes().map(\.seq) == [2])

            try client.mustRun(store.path, "DELETE FROM documents WHERE id = 'n1';")
            let tree3 = try #require(try store.tree("n1"))
            let r3 = try #require(tree3.winner?.rev)
            #expect(tree3.leafTexts == ["\(r3) deleted"])
            #expect(r3.generation == 3)
            let error = #expect(throws: StoreError.self) { try store.document("n1") }
            #expect(error?.reason == "deleted")
            #expect(try store.changes().map { "\($0.seq) \($0.deleted)" } == ["3 true"])
            #expect(try store.info().deletedDocumentCount == 1)

            try client.mustRun(store.path, #"INSERT INTO documents (id, body) VALUES ('n1', '{"title":"again"}');"#)
            let r4 = try #require(try store.tree("n1")?.winner?.rev)
            #expect(r4.generation == 4)
            #expect(try store.fullDocument("n1")
                == #"{"_id":"n1","_rev":"\#(r4)","title":"again","_revisions":{"start":4,"ids":["\#(r4.hash)","\#(r3.hash)","\#(r2.hash)","\#(r1.hash)"]}}"#)
            #expect(try store.tree("n1")?.leaves.count == 1)
            #expect(try store.changes().map { "\($0.seq) \($0.deleted)" } == ["4 false"])
            #expect(try store.updateSeq() == 4)
            #expect(try store.info().documentCount == 1)
        }
    }

    @Test("the view shows each document's winner: id, rev, deleted, body", arguments: Client.allCases)
    func view(client: Client) throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try Transcript.storeC1(in: store)
            let first = try store.put("gone", #"{"a":1}"#)
            let tombstone = try store.delete("gone", rev: first)
            let script = "SELECT id || '|' || rev || '|' || deleted || '|' || body FROM documents ORDER BY id;"
            let output: String
            switch client {
            case .sqlite3Shell:
                output = try Subprocess.query(store.path, script)
            case .python:
                let result = try Subprocess.python("""
                    import sqlite3, sys
                    db = sqlite3.connect(sys.argv[1])
                    for (row,) in db.execute(sys.argv[2]):
                        print(row)
                    """, [store.path, script])
                #expect(result.status == 0, "\(result.stderr)")
                output = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            #expect(output == """
                c1|2-aaaa|0|{"v":"a"}
                gone|\(tombstone)|1|{}
                """)
        }
    }

    @Test("UPDATE … WHERE id = ? AND rev = ? is optimistic concurrency: a stale rev changes nothing")
    func optimisticConcurrencyPython() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let first = try store.put("n1", #"{"v":1}"#)
            let second = try store.put("n1", #"{"_rev":"\#(first)","v":2}"#)
            // Statements on a view report no changed rows (SQLite does not count rows handled by
            // INSTEAD OF triggers), so a client compares total_changes() or reads rev back.
            let result = try Subprocess.python("""
                import sqlite3, sys
                db = sqlite3.connect(sys.argv[1], isolation_level=None)
                for rev, body in ((sys.argv[2], '{"v":"stale"}'), (sys.argv[3], '{"v":3}')):
                    before = db.total_changes
                    db.execute("UPDATE documents SET body = ? WHERE id = ? AND rev = ?", (body, "n1", rev))
                    print(db.total_changes - before)
                print(db.execute("SELECT rev FROM documents WHERE id = 'n1'").fetchone()[0])
                """, [store.path, first.description, second.description])
            #expect(result.status == 0, "\(result.stderr)")
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(lines.count == 3)
            #expect(lines.first == "0")
            #expect((Int(lines.count > 1 ? lines[1] : "") ?? 0) > 0)
            let third = try #require(try store.tree("n1")?.winner?.rev)
            #expect(lines.last == third.description)
            #expect(third.generation == 3)
            #expect(try store.tree("n1")?.parent(of: third) == second)
            #expect(try store.document("n1") == #"{"_id":"n1","_rev":"\#(third)","v":3}"#)
            #expect(try store.updateSeq() == 3)
        }
    }

    @Test("a stale rev in the sqlite3 shell changes nothing either")
    func optimisticConcurrencyShell() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let first = try store.put("n1", #"{"v":1}"#)
            let second = try store.put("n1", #"{"_rev":"\#(first)","v":2}"#)
            let output = try Subprocess.query(store.path, """
                UPDATE documents SET body = '{"v":"stale"}' WHERE id = 'n1' AND rev = '\(first)';
                SELECT total_changes();
                """)
            #expect(output == "0")
            #expect(try store.document("n1") == #"{"_id":"n1","_rev":"\#(second)","v":2}"#)
            #expect(try store.updateSeq() == 2)
        }
    }

    @Test("an SQL UPDATE of the body keeps the document's attachments; DELETE drops them", arguments: Client.allCases)
    func attachmentsSurviveUpdate(client: Client) throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.put("att", Transcript.attBody)
            try client.mustRun(store.path, #"UPDATE documents SET body = '{"title":"with attachment"}' WHERE id = 'att';"#)
            let second = try #require(try store.tree("att")?.winner?.rev)
            #expect(second.generation == 2)
            let stub = #""_attachments":{"hello.txt":{"content_type":"text/plain","revpos":1,"digest":"md5-XrY7u+Ae7tCTyyK7j1rNww==","length":11,"stub":true}}"#
            #expect(try store.document("att") == #"{"_id":"att","_rev":"\#(second)","title":"with attachment",\#(stub)}"#)
            #expect(try store.read { try $0.attachmentData(digest: "md5-XrY7u+Ae7tCTyyK7j1rNww==") } == Array("hello world".utf8))
            #expect(try store.document("att", DocumentOptions(attachments: .data)).contains(#""data":"aGVsbG8gd29ybGQ=""#))
            try client.mustRun(store.path, "DELETE FROM documents WHERE id = 'att';")
            #expect(try Subprocess.query(store.path, "SELECT count(DISTINCT digest) FROM attachment_chunks; SELECT count(*) FROM rev_attachments;") == "0\n0")
        }
    }

    static let refusedWrites: [(sql: String, message: String)] = [
        ("INSERT INTO documents (id, body) VALUES ('_x', '{}');", "bgsync: documents.id must be non-empty text"),
        ("INSERT INTO documents (id, body) VALUES ('_local/x', '{}');", "bgsync: documents.id must be non-empty text"),
        ("INSERT INTO documents (id, body) VALUES ('', '{}');", "bgsync: documents.id must be non-empty text"),
        ("INSERT INTO documents (id, body) VALUES (NULL, '{}');", "bgsync: documents.id must be non-empty text"),
        ("INSERT INTO documents (id, body) VALUES (42, '{}');", "bgsync: documents.id must be non-empty text"),
        ("INSERT INTO documents (id, body) VALUES ('n2', '[1,2]');", "bgsync: documents.body must be a JSON object as text"),
        ("INSERT INTO documents (id, body) VALUES ('n2', 'not json');", "bgsync: documents.body must be a JSON object as text"),
        ("INSERT INTO documents (id, body) VALUES ('n2', x'7b7d');", "bgsync: documents.body must be a JSON object as text"),
        (#"INSERT INTO documents (id, body) VALUES ('n2', '{"_id":"n2"}');"#, #"bgsync: top-level keys starting with "_" are reserved"#),
        (#"INSERT INTO documents (id, body) VALUES ('n2', '{"a":1,"_deleted":true}');"#, #"bgsync: top-level keys starting with "_" are reserved"#),
        ("INSERT INTO documents (id, body) VALUES ('n1', '{}');", "bgsync: a document with this id exists; UPDATE it instead"),
        ("UPDATE documents SET body = '[1]' WHERE id = 'n1';", "bgsync: documents.body must be a JSON object as text"),
        ("UPDATE documents SET body = 7 WHERE id = 'n1';", "bgsync: documents.body must be a JSON object as text"),
        (#"UPDATE documents SET body = '{"_rev":"1-x"}' WHERE id = 'n1';"#, #"bgsync: top-level keys starting with "_" are reserved"#),
        ("UPDATE documents SET id = 'n9' WHERE id = 'n1';", "bgsync: documents.id cannot change"),
        ("UPDATE documents SET rev = '9-abc' WHERE id = 'n1';", "bgsync: documents.rev is assigned by bgsync"),
        // Exactly what `db put` refuses (schema version 2; issue 13).
        ("INSERT INTO documents (id, body, rev) VALUES ('n2', '{}', '1-abc');", "bgsync: documents.rev is assigned by bgsync"),
        ("INSERT INTO documents (id, body) VALUES ('n2', NULL);", "bgsync: documents.body must not be NULL"),
        ("UPDATE documents SET body = NULL WHERE id = 'n1';", "bgsync: documents.body must not be NULL"),
        (#"INSERT INTO documents (id, body) VALUES ('n2', '{"a":' || printf('%.*c', 600, '[') || printf('%.*c', 600, ']') || '}');"#,
         "bgsync: documents.body is nested more than 512 levels deep"),
        (#"UPDATE documents SET body = '{"a":' || printf('%.*c', 512, '[') || printf('%.*c', 512, ']') || '}' WHERE id = 'n1';"#,
         "bgsync: documents.body is nested more than 512 levels deep"),
        ("INSERT INTO documents (id, body) VALUES ('n2', CAST(X'7B2261223A22FF227D' AS TEXT));", "bgsync: documents.body is not valid UTF-8"),
        ("INSERT INTO documents (id, body) VALUES ('n2', CAST(X'7B2261223A22C0AF227D' AS TEXT));", "bgsync: documents.body is not valid UTF-8"),
        ("INSERT INTO documents (id, body) VALUES ('n2', CAST(X'7B2261223A22EDA080227D' AS TEXT));", "bgsync: documents.body is not valid UTF-8"),
        ("UPDATE documents SET body = CAST(X'7B2261223A2280227D' AS TEXT) WHERE id = 'n1';", "bgsync: documents.body is not valid UTF-8"),
        ("INSERT INTO documents (id, body) VALUES ('n2', CAST(X'7B7D00' AS TEXT));", "bgsync: documents.body contains a NUL byte"),
        (#"INSERT INTO documents (id, body) VALUES ('n2', '{"a":"\ud800"}');"#, "bgsync: documents.body has a \\u escape of half a surrogate pair"),
        (#"INSERT INTO documents (id, body) VALUES ('n2', '{"a":"x\uDC00"}');"#, "bgsync: documents.body has a \\u escape of half a surrogate pair"),
        (#"INSERT INTO documents (id, body) VALUES ('n2', '{"a":"x' || char(9) || '"}');"#, "bgsync: documents.body must be a JSON object as text"),
        ("INSERT INTO documents (id, body) VALUES (CAST(X'6E00' AS TEXT), '{}');", "bgsync: documents.id contains a NUL byte"),
        ("INSERT INTO documents (id, body) VALUES (CAST(X'6EFF' AS TEXT), '{}');", "bgsync: documents.id is not valid UTF-8"),
        // A script fails as a whole: the valid first statement of a transaction is rolled back.
        (#"BEGIN; INSERT INTO documents (id, body) VALUES ('n3', '{}'); INSERT INTO documents (id, body) VALUES ('_y', '{}'); COMMIT;"#, "bgsync: documents.id must be non-empty text"),
    ]

    @Test("invalid ids, bodies and metadata keys are refused with the trigger's message; nothing changes",
          arguments: Client.allCases, refusedWrites)
    func refused(client: Client, write: (sql: String, message: String)) throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.put("n1", #"{"a":1}"#)
            let before = try store.info()
            let document = try store.document("n1", DocumentOptions(revs: true))
            let result = try client.run(store.path, write.sql + (client == .python ? "" : "\n"))
            #expect(result.status != 0)
            #expect(result.stderr.contains(write.message), "\(result.stderr)")
            // An open transaction left behind by the failed script is rolled back when the
            // client exits; the store sees the database as it was.
            #expect(try store.info() == before)
            #expect(try store.document("n1", DocumentOptions(revs: true)) == document)
            #expect(try store.read { try $0.allDocuments(includeDeleted: true) }.map(\.id) == ["n1"])
        }
    }

    @Test("design documents may be written through SQL")
    func designDocuments() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try Client.sqlite3Shell.mustRun(store.path, #"INSERT INTO documents (id, body) VALUES ('_design/app', '{"views":{}}');"#)
            #expect(try store.document("_design/app").hasSuffix(#","views":{}}"#))
        }
    }

    @Test("SQL writes follow CouchDB's winner: UPDATE and DELETE extend the winning leaf", arguments: Client.allCases)
    func conflictsThroughSQL(client: Client) throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.replicate(replicatedJSON("c", ["2-aaaa", "1-1111"], members: #""v":"a""#))
            try store.replicate(replicatedJSON("c", ["2-bbbb", "1-1111"], members: #""v":"b""#))
            try client.mustRun(store.path, #"UPDATE documents SET body = '{"v":"merged"}' WHERE id = 'c' AND rev = '2-bbbb';"#)
            let tree = try #require(try store.tree("c"))
            let third = try #require(tree.winner?.rev)
            #expect(tree.parent(of: third) == rev("2-bbbb"))
            #expect(tree.leafTexts == [third.description, "2-aaaa"])
            try client.mustRun(store.path, "DELETE FROM documents WHERE id = 'c';")
            // The winner is now the live loser, 2-aaaa: the document comes back as it.
            #expect(try store.document("c") == #"{"_id":"c","_rev":"2-aaaa","v":"a"}"#)
            #expect(try store.conflicts().first?.deletedConflicts.count == 1)
            // A document edited through SQL goes on through the Swift API.
            let next = try store.put("c", #"{"_rev":"2-aaaa","v":"resolved"}"#)
            #expect(try store.document("c") == #"{"_id":"c","_rev":"\#(next)","v":"resolved"}"#)
        }
    }

    @Test("the deleted column: SET deleted = 1 deletes, SET deleted = 0 revives", arguments: Client.allCases)
    func deletedColumn(client: Client) throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let first = try store.put("n1", #"{"v":1}"#)
            try client.mustRun(store.path, "UPDATE documents SET deleted = 1 WHERE id = 'n1';")
            let tombstone = try #require(try store.tree("n1")?.winner)
            #expect(tombstone.deleted)
            #expect(tombstone.rev.generation == 2)
            #expect(try store.tree("n1")?.parent(of: tombstone.rev) == first)
            try client.mustRun(store.path, #"UPDATE documents SET deleted = 0, body = '{"v":3}' WHERE id = 'n1';"#)
            let revived = try #require(try store.tree("n1")?.winner)
            #expect(!revived.deleted)
            #expect(revived.rev.generation == 3)
            #expect(try store.document("n1") == #"{"_id":"n1","_rev":"\#(revived.rev)","v":3}"#)
            #expect(try store.tree("n1")?.leaves.count == 1)
        }
    }

    @Test("DELETE of a deleted document changes nothing")
    func deleteDeleted() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.put("n1", "{}")
            try store.delete("n1")
            let before = try store.info()
            try Client.sqlite3Shell.mustRun(store.path, "DELETE FROM documents WHERE id = 'n1';")
            #expect(try store.info() == before)
        }
    }
}
