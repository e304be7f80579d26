/// The SQLite schema of a bgsync database, as numbered migrations over `PRAGMA user_version`.
///
/// The public contract described in the README: applications may read the `documents` view and
/// write through its `INSTEAD OF` triggers with any SQLite client; the other tables are
/// bgsync's own and may change between versions. Version 2 made the triggers refuse whatever
/// ``DocumentRules`` refuses.
enum Schema {
    /// The `application_id` bgsync stamps into its files (`"BGSY"`), so that a foreign SQLite
    /// file is recognised and never modified.
    static let applicationID: Int32 = 0x4247_5359

    /// The schema version this build writes. A file with a higher `user_version` comes from a
    /// newer bgsync and is refused.
    static var currentVersion: Int { migrations.count }

    /// Ordered migrations: `migrations[i]` upgrades a database from version `i` to `i + 1`.
    static let migrations: [(name: String, sql: String)] = [
        ("v1: documents, revisions, attachments, changes, local documents", version1),
        ("v2: the documents view's triggers enforce every document rule (UTF-8, depth, size, NULL, rev)", DocumentTriggers.version2),
        ("v3: attachment data in chunks (no size limit, streamed in and out)", AttachmentChunks.version3),
    ]

    /// The oldest version a read-only open accepts: the tables and the view that readers use are
    /// the same from it to ``currentVersion`` (version 2 changed only the triggers; version 3's
    /// `attachment_chunks` is given to older files as a temporary view,
    /// ``AttachmentChunks/legacyView``), so a file on read-only media written by an older bgsync
    /// can still be inspected.
    static let oldestReadableVersion = 1

    static let version1 = #"""
    CREATE TABLE store_info (
        singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
        uuid        TEXT NOT NULL,
        update_seq  INTEGER NOT NULL DEFAULT 0,
        revs_limit  INTEGER NOT NULL DEFAULT 1000 CHECK (revs_limit > 0)
    );
    INSERT INTO store_info (singleton, uuid) VALUES (1, lower(hex(randomblob(16))));

    -- One row per document; `seq` is the update sequence of its latest change, `winner` its
    -- winning leaf.
    CREATE TABLE docs (
        doc_id  INTEGER PRIMARY KEY,
        id      TEXT NOT NULL UNIQUE,
        seq     INTEGER NOT NULL UNIQUE,
        winner  INTEGER
    );

    -- The revision trees. A revision's parent is (pos - 1, parent_hash) of the same document;
    -- roots have no parent. Only leaves keep a body (as CouchDB after compaction).
    CREATE TABLE revs (
        rev_id       INTEGER PRIMARY KEY AUTOINCREMENT,
        doc_id       INTEGER NOT NULL REFERENCES docs (doc_id),
        pos          INTEGER NOT NULL CHECK (pos > 0),
        hash         TEXT NOT NULL,
        parent_hash  TEXT,
        deleted      INTEGER NOT NULL DEFAULT 0,
        leaf         INTEGER NOT NULL DEFAULT 1,
        body         TEXT,
        UNIQUE (doc_id, pos, hash)
    );
    CREATE INDEX revs_leaves ON revs (doc_id) WHERE leaf = 1;

    -- Attachment data, stored once per digest.
    CREATE TABLE attachment_blobs (
        digest  TEXT PRIMARY KEY,
        data    BLOB NOT NULL
    ) WITHOUT ROWID;

    -- The attachments of leaf revisions (metadata; data in attachment_blobs).
    CREATE TABLE rev_attachments (
        rev_id        INTEGER NOT NULL REFERENCES revs (rev_id),
        name          TEXT NOT NULL,
        content_type  TEXT NOT NULL,
        revpos        INTEGER NOT NULL,
        digest        TEXT NOT NULL,
        length        INTEGER NOT NULL,
        PRIMARY KEY (rev_id, name)
    );
    CREATE INDEX rev_attachments_digest ON rev_attachments (digest);

    -- _local documents: no tree, not replicated, rev "0-N".
    CREATE TABLE local_docs (
        id    TEXT PRIMARY KEY,
        rev   INTEGER NOT NULL,
        body  TEXT NOT NULL
    ) WITHOUT ROWID;

    -- Housekeeping that holds for every writer, bgsync or a plain SQLite client.
    CREATE TRIGGER revs_deleted AFTER DELETE ON revs
    BEGIN
        DELETE FROM rev_attachments WHERE rev_id = OLD.rev_id;
    END;
    CREATE TRIGGER revs_no_longer_leaf AFTER UPDATE OF leaf ON revs WHEN NEW.leaf = 0
    BEGIN
        DELETE FROM rev_attachments WHERE rev_id = NEW.rev_id;
    END;
    CREATE TRIGGER rev_attachments_unreferenced AFTER DELETE ON rev_attachments
    WHEN NOT EXISTS (SELECT 1 FROM rev_attachments WHERE digest = OLD.digest)
    BEGIN
        DELETE FROM attachment_blobs WHERE digest = OLD.digest;
    END;

    -- The public SQL contract: one row per document, its winning revision.
    CREATE VIEW documents (id, rev, deleted, body) AS
        SELECT d.id, r.pos || '-' || r.hash, r.deleted, r.body
        FROM docs d JOIN revs r ON r.rev_id = d.winner;

    CREATE TRIGGER documents_insert INSTEAD OF INSERT ON documents
    BEGIN
        SELECT RAISE(ABORT, 'bgsync: documents.id must be non-empty text, and may start with "_" only as "_design/"')
        WHERE typeof(NEW.id) <> 'text' OR NEW.id = ''
           OR (substr(NEW.id, 1, 1) = '_' AND substr(NEW.id, 1, 8) <> '_design/');
        SELECT RAISE(ABORT, 'bgsync: documents.body must be a JSON object as text, for example ''{"title":"x"}''')
        WHERE NEW.body IS NOT NULL AND (typeof(NEW.body) <> 'text' OR NOT json_valid(NEW.body) OR json_type(NEW.body) <> 'object');
        SELECT RAISE(ABORT, 'bgsync: top-level keys starting with "_" are reserved for CouchDB metadata; rename the key')
        WHERE NEW.body IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(NEW.body) WHERE substr(key, 1, 1) = '_');
        SELECT RAISE(ABORT, 'bgsync: a document with this id exists; UPDATE it instead')
        WHERE EXISTS (SELECT 1 FROM docs d JOIN revs r ON r.rev_id = d.winner WHERE d.id = NEW.id AND r.deleted = 0);
        UPDATE store_info SET update_seq = update_seq + 1;
        INSERT INTO docs (id, seq) VALUES (NEW.id, (SELECT update_seq FROM store_info))
            ON CONFLICT (id) DO UPDATE SET seq = excluded.seq;
        INSERT INTO revs (doc_id, pos, hash, parent_hash, deleted, leaf, body)
            SELECT d.doc_id, coalesce(w.pos, 0) + 1, lower(hex(randomblob(16))), w.hash,
                   coalesce(NEW.deleted, 0) <> 0, 1, coalesce(NEW.body, '{}')
            FROM docs d LEFT JOIN revs w ON w.rev_id = d.winner WHERE d.id = NEW.id;
        UPDATE revs SET leaf = 0, deleted = 0, body = NULL WHERE rev_id = (SELECT winner FROM docs WHERE id = NEW.id);
        UPDATE docs SET winner = (
            SELECT rev_id FROM revs r WHERE r.doc_id = docs.doc_id AND r.leaf = 1
            ORDER BY r.deleted, r.pos DESC, r.hash DESC LIMIT 1)
        WHERE id = NEW.id;
    END;

    CREATE TRIGGER documents_update INSTEAD OF UPDATE ON documents
    BEGIN
        SELECT RAISE(ABORT, 'bgsync: documents.id cannot change; INSERT a new document and DELETE the old one')
        WHERE NEW.id IS NOT OLD.id;
        SELECT RAISE(ABORT, 'bgsync: documents.rev is assigned by bgsync; use it in WHERE for optimistic concurrency, never SET it')
        WHERE NEW.rev IS NOT OLD.rev;
        SELECT RAISE(ABORT, 'bgsync: documents.body must be a JSON object as text, for example ''{"title":"x"}''')
        WHERE NEW.body IS NOT NULL AND (typeof(NEW.body) <> 'text' OR NOT json_valid(NEW.body) OR json_type(NEW.body) <> 'object');
        SELECT RAISE(ABORT, 'bgsync: top-level keys starting with "_" are reserved for CouchDB metadata; rename the key')
        WHERE NEW.body IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(NEW.body) WHERE substr(key, 1, 1) = '_');
        UPDATE store_info SET update_seq = update_seq + 1;
        UPDATE docs SET seq = (SELECT update_seq FROM store_info) WHERE id = OLD.id;
        INSERT INTO revs (doc_id, pos, hash, parent_hash, deleted, leaf, body)
            SELECT d.doc_id, w.pos + 1, lower(hex(randomblob(16))), w.hash,
                   coalesce(NEW.deleted, 0) <> 0, 1, coalesce(NEW.body, '{}')
            FROM docs d JOIN revs w ON w.rev_id = d.winner WHERE d.id = OLD.id;
        INSERT INTO rev_attachments (rev_id, name, content_type, revpos, digest, length)
            SELECT (SELECT max(rev_id) FROM revs), a.name, a.content_type, a.revpos, a.digest, a.length
            FROM rev_attachments a
            WHERE a.rev_id = (SELECT winner FROM docs WHERE id = OLD.id) AND coalesce(NEW.deleted, 0) = 0;
        UPDATE revs SET leaf = 0, deleted = 0, body = NULL WHERE rev_id = (SELECT winner FROM docs WHERE id = OLD.id);
        UPDATE docs SET winner = (
            SELECT rev_id FROM revs r WHERE r.doc_id = docs.doc_id AND r.leaf = 1
            ORDER BY r.deleted, r.pos DESC, r.hash DESC LIMIT 1)
        WHERE id = OLD.id;
    END;

    CREATE TRIGGER documents_delete INSTEAD OF DELETE ON documents WHEN OLD.deleted = 0
    BEGIN
        UPDATE store_info SET update_seq = update_seq + 1;
        UPDATE docs SET seq = (SELECT update_seq FROM store_info) WHERE id = OLD.id;
        INSERT INTO revs (doc_id, pos, hash, parent_hash, deleted, leaf, body)
            SELECT d.doc_id, w.pos + 1, lower(hex(randomblob(16))), w.hash, 1, 1, '{}'
            FROM docs d JOIN revs w ON w.rev_id = d.winner WHERE d.id = OLD.id;
        UPDATE revs SET leaf = 0, deleted = 0, body = NULL WHERE rev_id = (SELECT winner FROM docs WHERE id = OLD.id);
        UPDATE docs SET winner = (
            SELECT rev_id FROM revs r WHERE r.doc_id = docs.doc_id AND r.leaf = 1
            ORDER BY r.deleted, r.pos DESC, r.hash DESC LIMIT 1)
        WHERE id = OLD.id;
    END;
    """#
}
