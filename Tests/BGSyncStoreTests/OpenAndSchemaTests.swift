import BGSyncTestSupport
import BGSyncStore
import Foundation
import Testing

/// Opening files: new stores, reopening, and refusing (without touching) files that are not
/// bgsync databases.
@Suite("Opening stores")
struct OpenAndSchemaTests {
    static let modes: [DocumentStore.OpenMode] = [.readWriteCreate, .readWrite, .readOnly]

    /// Expects `open` to fail with `not_a_database`, leaving the file byte for byte as it was
    /// and (unless `wal`: SQLite itself opens a WAL database's `-wal` and `-shm` files)
    /// creating nothing beside it.
    static func expectRefused(_ dir: TemporaryDirectory, _ file: String, mentioning: String? = nil, wal: Bool = false,
                              sourceLocation: SourceLocation = #_sourceLocation) throws {
        let before = try dir.contents(of: file)
        let listing = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        for mode in modes {
            let error = #expect(throws: StoreError.self, "\(mode)", sourceLocation: sourceLocation) {
                _ = try DocumentStore.open(at: file, mode: mode)
            }
            #expect(error?.code == .notADatabase, "\(mode): \(error?.message ?? "")", sourceLocation: sourceLocation)
            if let mentioning {
                #expect(error?.message.contains(mentioning) == true, "\(mode): \(error?.message ?? "")", sourceLocation: sourceLocation)
            }
            #expect(try dir.contents(of: file) == before, "\(mode)", sourceLocation: sourceLocation)
        }
        if !wal {
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == listing, sourceLocation: sourceLocation)
        }
    }

    @Test("a new store is stamped with bgsync's application_id and schema version 3")
    func newStore() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            #expect(try Subprocess.query(store.path, "PRAGMA application_id; PRAGMA user_version; PRAGMA journal_mode;")
                == "\(0x4247_5359)\n3\nwal")
            let info = try store.info()
            #expect(info.updateSeq == 0)
            #expect(info.documentCount == 0)
            #expect(info.revsLimit == 1000)
            #expect(info.uuid.count == 32)
            #expect(info.path == dir.path("db.sqlite"))
            #expect(store.path == dir.path("db.sqlite"))
        }
    }

    @Test("reopening keeps documents, sequence, uuid and revs_limit")
    func reopen() throws {
        try withTemporaryDirectory { dir in
            let (info, first) = try {
                let store = try dir.openStore()
                try store.setRevsLimit(7)
                let first = try store.put("d", #"{"a":1}"#)
                try store.write { try $0.putLocal(id: "_local/x", json: "{}") }
                return (try store.info(), first)
            }()
            for mode in Self.modes {
                let store = try dir.openStore(mode: mode)
                #expect(try store.info() == info)
                #expect(try store.document("d") == #"{"_id":"d","_rev":"\#(first)","a":1}"#)
                #expect(try store.read { try $0.localDocument("_local/x") } != nil)
            }
            // Two stores open on one file see each other's writes.
            let one = try dir.openStore()
            let two = try dir.openStore()
            let second = try one.put("d", #"{"_rev":"\#(first)","a":2}"#)
            #expect(try two.document("d") == #"{"_id":"d","_rev":"\#(second)","a":2}"#)
        }
    }

    @Test("a file of random bytes is not a database, and is left untouched")
    func randomBytes() throws {
        try withTemporaryDirectory { dir in
            var rng = SeededRandom(seed: 42)
            let bytes = (0..<8192).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let file = try dir.write(bytes, to: "random.sqlite")
            try Self.expectRefused(dir, file)
        }
    }

    @Test("a text file is not a database, and is left untouched")
    func textFile() throws {
        try withTemporaryDirectory { dir in
            let file = try dir.write(String(repeating: "not a database\n", count: 300), to: "notes.txt")
            try Self.expectRefused(dir, file)
        }
    }

    @Test("another program's SQLite database is refused and left untouched")
    func foreignSQLite() throws {
        try withTemporaryDirectory { dir in
            let file = dir.path("app.sqlite")
            let created = try Subprocess.sqlite(file, "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes (text) VALUES ('keep me');")
            #expect(created.status == 0, "\(created.stderr)")
            try Self.expectRefused(dir, file, mentioning: "not a bgsync database")
            #expect(try Subprocess.query(file, "SELECT text FROM notes; PRAGMA journal_mode;") == "keep me\ndelete")
        }
    }

    @Test("an SQLite file with another application_id is refused even when empty")
    func otherApplicationID() throws {
        try withTemporaryDirectory { dir in
            let file = dir.path("other.sqlite")
            let created = try Subprocess.sqlite(file, "PRAGMA application_id = 1234; PRAGMA user_version = 1;")
            #expect(created.status == 0, "\(created.stderr)")
            try Self.expectRefused(dir, file, mentioning: "1234")
        }
    }

    @Test("a store written by a newer bgsync is refused with a message saying so, and left untouched")
    func newerSchema() throws {
        try withTemporaryDirectory { dir in
            let file = try {
                let store = try dir.openStore()
                try store.put("d", "{}")
                return store.path
            }()
            let stamped = try Subprocess.sqlite(file, "PRAGMA user_version = 99; PRAGMA wal_checkpoint(TRUNCATE);")
            #expect(stamped.status == 0, "\(stamped.stderr)")
            try Self.expectRefused(dir, file, mentioning: "newer", wal: true)
        }
    }

    @Test("opening a missing file read-only or read-write fails and creates nothing",
          arguments: [DocumentStore.OpenMode.readOnly, .readWrite])
    func missingFile(mode: DocumentStore.OpenMode) throws {
        try withTemporaryDirectory { dir in
            let error = #expect(throws: StoreError.self) { _ = try DocumentStore.open(at: dir.path("missing.sqlite"), mode: mode) }
            #expect(error?.code == .io)
            #expect(error?.message.contains("missing.sqlite") == true)
            let listing = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            #expect(listing.isEmpty)
        }
    }

    @Test("a file in a missing directory cannot be created")
    func missingDirectory() throws {
        try withTemporaryDirectory { dir in
            let error = #expect(throws: StoreError.self) { _ = try DocumentStore.open(at: dir.path("no/such/dir/db.sqlite")) }
            #expect(error?.code == .io)
        }
    }

    @Test("a read-only store cannot be written")
    func readOnly() throws {
        try withTemporaryDirectory { dir in
            _ = try dir.openStore()
            let store = try dir.openStore(mode: .readOnly)
            #expect(throws: StoreError.self) { try store.put("d", "{}") }
            #expect(try dir.openStore().info().updateSeq == 0)
        }
    }

    @Test("an empty file becomes a new store")
    func emptyFile() throws {
        try withTemporaryDirectory { dir in
            let file = try dir.write([UInt8](), to: "empty.sqlite")
            // Read-only cannot initialise it.
            let error = #expect(throws: StoreError.self) { _ = try DocumentStore.open(at: file, mode: .readOnly) }
            #expect(error?.code == .notADatabase)
            let store = try DocumentStore.open(at: file)
            try store.put("d", "{}")
            #expect(try store.info().documentCount == 1)
        }
    }
}

extension DocumentStore.OpenMode: CustomTestStringConvertible {
    public var testDescription: String {
        switch self {
        case .readWriteCreate: "readWriteCreate"
        case .readWrite: "readWrite"
        case .readOnly: "readOnly"
        }
    }
}
