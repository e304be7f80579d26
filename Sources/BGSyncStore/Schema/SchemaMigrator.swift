import GRDB

/// Checks that a file is a bgsync database and brings its schema up to date, using
/// `PRAGMA application_id` to recognise bgsync files and `PRAGMA user_version` to number
/// migrations.
enum SchemaMigrator {
    /// Refuses a file that is not (and cannot become) a bgsync database, before anything is
    /// written to it.
    static func checkFormat(_ db: Database, path: String) throws {
        let stamp = try SQLiteFileStamp.read(db)
        let applicationID = stamp.applicationID
        let version = stamp.userVersion
        if applicationID == Schema.applicationID {
            if version > Schema.currentVersion {
                throw StoreError(.notADatabase, "\(path): written by a newer bgsync (schema version \(version); this bgsync knows up to \(Schema.currentVersion)); upgrade bgsync")
            }
            return
        }
        let objects = stamp.schemaObjects
        if applicationID != 0 || objects > 0 {
            throw StoreError(.notADatabase, "\(path): an SQLite database that is not a bgsync database (application_id \(applicationID), \(objects) schema objects); refusing to touch it")
        }
    }

    /// Fails unless the schema can be read as it is (for read-only opens, which cannot
    /// migrate): a version from ``Schema/oldestReadableVersion`` to the current one.
    static func requireCurrent(_ db: Database, path: String) throws {
        let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        if version == 0 {
            throw StoreError(.notADatabase, "\(path): an empty SQLite file, not yet a bgsync database")
        }
        if version < Schema.oldestReadableVersion || version > Schema.currentVersion {
            throw StoreError(.notADatabase, "\(path): schema version \(version) needs an upgrade to \(Schema.currentVersion); open it with a writing command first")
        }
    }

    /// Applies the missing migrations, each in its own immediate transaction.
    static func migrate(_ db: Database, path: String) throws {
        try UserVersionMigrator(applicationID: Schema.applicationID, migrations: Schema.migrations.map(\.sql))
            .migrate(db) { try checkFormat($0, path: path) }
    }
}
