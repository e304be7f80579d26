import Foundation
import GRDB

/// Attachment data as the store keeps it: once per digest, cut into chunks of at most
/// ``size`` bytes (table `attachment_chunks`).
///
/// Chunks let data of any length in and out with memory bounded by one chunk: SQLite refuses a
/// single value over `SQLITE_MAX_LENGTH` (10⁹ bytes in Debian's build, below 1 GiB), and a
/// value is always read and written whole. Every attachment has at least chunk 0 (empty for
/// empty data), so "the store has this digest" is "chunk 0 exists".
package enum AttachmentChunks {
    /// The largest chunk written: 1 MiB.
    package static let size = 1 << 20

    /// Schema version 3: `attachment_blobs (digest, data)` becomes `attachment_chunks (digest,
    /// chunk, data)`; existing data moves over as chunk 0 (chunks need not be full).
    static let version3 = """
    CREATE TABLE attachment_chunks (
        digest  TEXT NOT NULL,
        chunk   INTEGER NOT NULL,
        data    BLOB NOT NULL,
        PRIMARY KEY (digest, chunk)
    );
    INSERT INTO attachment_chunks (digest, chunk, data) SELECT digest, 0, data FROM attachment_blobs;
    DROP TRIGGER rev_attachments_unreferenced;
    DROP TABLE attachment_blobs;
    CREATE TRIGGER rev_attachments_unreferenced AFTER DELETE ON rev_attachments
    WHEN NOT EXISTS (SELECT 1 FROM rev_attachments WHERE digest = OLD.digest)
    BEGIN
        DELETE FROM attachment_chunks WHERE digest = OLD.digest;
    END;
    """

    /// For a read-only connection to a file older than version 3 (which cannot migrate it):
    /// its `attachment_blobs` seen as one chunk each, under the name readers use.
    static let legacyView = "CREATE TEMP VIEW attachment_chunks (digest, chunk, data) AS SELECT digest, 0, data FROM attachment_blobs"

    /// Whether data for `digest` is stored.
    static func contains(_ digest: String, _ db: Database) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM attachment_chunks WHERE digest = ? AND chunk = 0)"),
                          arguments: [digest]) ?? false
    }

    /// Stores `data` under `digest` unless data for it is stored already.
    static func insert(_ data: AttachmentBytes, digest: String, _ db: Database) throws {
        guard try !contains(digest, db) else { return }
        let statement = try db.cachedStatement(sql: "INSERT INTO attachment_chunks (digest, chunk, data) VALUES (?, ?, ?)")
        var index = 0
        try data.forEachChunk(of: size) { chunk in
            try statement.execute(arguments: [digest, index, chunk])
            index += 1
        }
    }

    /// Calls `body` with each chunk of the data stored under `digest`, in order; false when
    /// there is none.
    static func forEachChunk(of digest: String, _ db: Database, _ body: (Data) throws -> Void) throws -> Bool {
        let cursor = try Row.fetchCursor(db.cachedStatement(sql: "SELECT data FROM attachment_chunks WHERE digest = ? ORDER BY chunk"),
                                         arguments: [digest])
        var found = false
        while let row = try cursor.next() {
            found = true
            try body(row[0] as Data? ?? Data())
        }
        return found
    }
}
