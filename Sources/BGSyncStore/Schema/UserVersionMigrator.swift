import GRDB

/// Brings an SQLite file that bgsync owns up to date: migrations numbered by
/// `PRAGMA user_version`, the file stamped with its kind's `PRAGMA application_id`. The one
/// migrator of the document store (``SchemaMigrator``) and the job state database.
package struct UserVersionMigrator: Sendable {
    /// The `application_id` that marks this kind of file.
    package var applicationID: Int32
    /// `migrations[v]` takes a file from version v to v + 1.
    package var migrations: [String]

    /// A migrator for files stamped `applicationID`.
    package init(applicationID: Int32, migrations: [String]) {
        self.applicationID = applicationID
        self.migrations = migrations
    }

    /// Applies the missing migrations, each in its own immediate transaction. `checkFormat`
    /// runs first in each one (another process may have migrated meanwhile) and throws for a
    /// file that is not, and cannot become, this kind of database.
    package func migrate(_ db: Database, checkFormat: (Database) throws -> Void) throws {
        while true {
            var done = false
            try db.inTransaction(.immediate) {
                try checkFormat(db)
                let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
                guard version < migrations.count else {
                    done = true
                    return .commit
                }
                try db.execute(sql: migrations[version])
                try db.execute(sql: "PRAGMA user_version = \(version + 1)")
                try db.execute(sql: "PRAGMA application_id = \(applicationID)")
                return .commit
            }
            if done { return }
        }
    }
}
