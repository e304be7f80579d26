import BGSyncTestSupport
import BGSyncStore
import Foundation
import Testing

/// Another process (the application) writes through the `documents` view while bgsync follows
/// the changes feed, as a push replication does.
@Suite("Concurrent writers")
struct ConcurrentWriterTests {
    /// Inserts `count` documents, one transaction each, updates every third one twice and deletes
    /// every tenth, through the view; prints each document's final rev ("id rev deleted").
    static let writer = """
        import sqlite3, sys, time
        path, count = sys.argv[1], int(sys.argv[2])
        db = sqlite3.connect(path, isolation_level=None, timeout=60)
        db.execute("PRAGMA synchronous = NORMAL")
        for n in range(count):
            db.execute("INSERT INTO documents (id, body) VALUES (?, ?)", ("w%04d" % n, '{"n":%d,"v":0}' % n))
            if n % 3 == 0 and n > 0:
                m = n - 3
                for v in (1, 2):
                    db.execute("UPDATE documents SET body = ? WHERE id = ?", ('{"n":%d,"v":%d}' % (m, v), "w%04d" % m))
            if n % 10 == 5:
                db.execute("DELETE FROM documents WHERE id = ?", ("w%04d" % (n - 5),))
            if n % 20 == 19:
                time.sleep(0.002)  # let the reader interleave with the writes
        for row in db.execute("SELECT id, rev, deleted FROM documents WHERE id LIKE 'w%' ORDER BY id"):
            print(row[0], row[1], row[2])
        """

    @Test("following changes(since:) while another process writes 500 documents misses nothing")
    func followChangesDuringWrites() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.put("own-0", #"{"n":0}"#)
            let count = 500
            let writer = try TestProcess(Subprocess.python3, ["-c", Self.writer, store.path, "\(count)"])
            var since = 0
            var latest: [String: Change] = [:]
            var polls = 0
            var ownWrites = 1
            func poll() throws {
                let changes = try store.changes(since: since, limit: polls % 2 == 0 ? 50 : nil)
                polls += 1
                for change in changes {
                    #expect(change.seq > since)
                    if let previous = latest[change.id] { #expect(change.seq > previous.seq) }
                    latest[change.id] = change
                }
                #expect(changes.map(\.seq) == changes.map(\.seq).sorted())
                if let last = changes.last { since = last.seq }
            }
            while writer.isRunning {
                try poll()
                // bgsync writes too, contending for the write lock.
                if polls % 5 == 0 {
                    try store.put("own-\(ownWrites)", #"{"n":\#(ownWrites)}"#)
                    ownWrites += 1
                }
                Thread.sleep(forTimeInterval: 0.002)
            }
            let result = try writer.wait()
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stderr.isEmpty)
            // Drain what was written after the last poll.
            while true {
                let before = since
                try poll()
                if since == before { break }
            }
            #expect(since == (try store.updateSeq()))

            // Every document seen once more at its final revision, as the writer left it.
            let finals = result.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            #expect(finals.count == count)
            for final in finals where final.count == 3 {
                let change = latest[final[0]]
                #expect(change?.leaves == [rev(final[1])], "\(final[0])")
                #expect(change?.deleted == (final[2] == "1"), "\(final[0])")
            }
            for n in 0..<ownWrites {
                #expect(latest["own-\(n)"] != nil, "own-\(n)")
            }
            #expect(latest.count == count + ownWrites)
            #expect(polls > 1)
            // And the store agrees with what the feed said.
            let info = try store.info()
            #expect(info.documentCount + info.deletedDocumentCount == count + ownWrites)
            #expect(info.deletedDocumentCount == finals.filter { $0.last == "1" }.count)
        }
    }
}

@Suite("A concurrent reader")
struct ConcurrentReaderTests {
    @Test("reads the last committed state while the store's connection is inside a write transaction")
    func readsDuringWrite() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.put("a", "{}")
            let reader = try store.concurrentReader()
            let inside = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
            DispatchQueue.global().async {
                _ = try? store.write { tx in
                    try tx.put(id: "b", json: "{}")
                    inside.signal()
                    release.wait()
                }
                done.signal()
            }
            inside.wait()
            // The write transaction is open: the reader neither waits for it nor sees "b".
            #expect(try reader.read { try $0.updateSeq() } == 1)
            #expect(try reader.read { try $0.tree(of: "b") } == nil)
            release.signal()
            done.wait()
            #expect(try reader.read { try $0.updateSeq() } == 2)
            #expect(try reader.read { try $0.tree(of: "b") } != nil)
            #expect(throws: StoreError.self) { try reader.write { try $0.put(id: "c", json: "{}") } }
        }
    }
}
