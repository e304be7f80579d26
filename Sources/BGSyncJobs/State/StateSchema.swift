import BGSyncStore
import GRDB

/// The schema of `state.sqlite`, numbered by `PRAGMA user_version` and stamped with its own
/// `application_id` (`"BGST"`), so that a foreign or corrupt file is recognised and never
/// modified.
///
/// Times are REAL seconds since 1970 (UTC): `datetime(last_success, 'unixepoch')` in the
/// `sqlite3` shell shows them.
enum StateSchema {
    static let applicationID: Int32 = 0x4247_5354

    static var currentVersion: Int { migrations.count }

    /// `migrations[i]` upgrades a state database from version `i` to `i + 1`.
    static let migrations: [String] = [version1, version2, version3]

    static let version1 = #"""
    CREATE TABLE jobs (
        tag                   TEXT PRIMARY KEY NOT NULL,
        enabled               INTEGER NOT NULL DEFAULT 1,
        last_run              REAL,
        last_outcome          TEXT CHECK (last_outcome IN ('synced', 'skipped', 'failed', 'interrupted')),
        last_reason           TEXT,
        last_success          REAL,
        last_failure          REAL,
        consecutive_failures  INTEGER NOT NULL DEFAULT 0,
        next_eligible         REAL,
        running_run_id        INTEGER,
        running_pid           INTEGER,
        running_since         REAL,
        progress              TEXT CHECK (progress IS NULL OR json_valid(progress)),
        job_file              TEXT
    ) WITHOUT ROWID;

    CREATE TABLE runs (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        tag          TEXT NOT NULL,
        started_at   REAL NOT NULL,
        finished_at  REAL,
        outcome      TEXT CHECK (outcome IN ('synced', 'skipped', 'failed', 'interrupted')),
        reason       TEXT,
        error        TEXT,
        exit_code    INTEGER,
        result       TEXT CHECK (result IS NULL OR json_valid(result)),
        pid          INTEGER NOT NULL
    );
    CREATE INDEX runs_by_tag ON runs (tag, id);
    """#

    /// Version 2 accepts the outcome `refused` (a push stopped by the mass-deletion guard):
    /// SQLite cannot change a CHECK constraint in place, so both tables are rebuilt with their
    /// rows (run ids kept, and the `AUTOINCREMENT` counter, so a deleted run's id is never reused).
    static let version2 = #"""
    CREATE TABLE jobs_v2 (
        tag                   TEXT PRIMARY KEY NOT NULL,
        enabled               INTEGER NOT NULL DEFAULT 1,
        last_run              REAL,
        last_outcome          TEXT CHECK (last_outcome IN ('synced', 'skipped', 'failed', 'interrupted', 'refused')),
        last_reason           TEXT,
        last_success          REAL,
        last_failure          REAL,
        consecutive_failures  INTEGER NOT NULL DEFAULT 0,
        next_eligible         REAL,
        running_run_id        INTEGER,
        running_pid           INTEGER,
        running_since         REAL,
        progress              TEXT CHECK (progress IS NULL OR json_valid(progress)),
        job_file              TEXT
    ) WITHOUT ROWID;
    INSERT INTO jobs_v2 (tag, enabled, last_run, last_outcome, last_reason, last_success, last_failure, consecutive_failures,
                         next_eligible, running_run_id, running_pid, running_since, progress, job_file)
        SELECT tag, enabled, last_run, last_outcome, last_reason, last_success, last_failure, consecutive_failures,
               next_eligible, running_run_id, running_pid, running_since, progress, job_file FROM jobs;
    DROP TABLE jobs;
    ALTER TABLE jobs_v2 RENAME TO jobs;

    CREATE TABLE runs_v2 (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        tag          TEXT NOT NULL,
        started_at   REAL NOT NULL,
        finished_at  REAL,
        outcome      TEXT CHECK (outcome IN ('synced', 'skipped', 'failed', 'interrupted', 'refused')),
        reason       TEXT,
        error        TEXT,
        exit_code    INTEGER,
        result       TEXT CHECK (result IS NULL OR json_valid(result)),
        pid          INTEGER NOT NULL
    );
    INSERT INTO runs_v2 (id, tag, started_at, finished_at, outcome, reason, error, exit_code, result, pid)
        SELECT id, tag, started_at, finished_at, outcome, reason, error, exit_code, result, pid FROM runs;
    DELETE FROM sqlite_sequence WHERE name = 'runs_v2';
    INSERT INTO sqlite_sequence (name, seq) SELECT 'runs_v2', seq FROM sqlite_sequence WHERE name = 'runs';
    DROP TABLE runs;
    ALTER TABLE runs_v2 RENAME TO runs;
    CREATE INDEX runs_by_tag ON runs (tag, id);
    """#

    /// Version 3 remembers the exit code of the last run that was not skipped, so that a
    /// configuration error (78) keeps the job due instead of backing off (see ``ScheduleDecider``).
    static let version3 = #"""
    ALTER TABLE jobs ADD COLUMN last_exit_code INTEGER;
    """#

    /// Refuses a file that is not (and cannot become) a bgsync state database, before anything
    /// is written to it.
    static func checkFormat(_ db: Database, path: String) throws {
        let stamp = try SQLiteFileStamp.read(db)
        let applicationID = stamp.applicationID
        let version = stamp.userVersion
        if applicationID == Self.applicationID {
            if version > currentVersion {
                throw StateError(.notAStateDatabase, "\(path): written by a newer bgsync (state schema version \(version); this bgsync knows up to \(currentVersion)); upgrade bgsync", path: path)
            }
            return
        }
        let objects = stamp.schemaObjects
        if applicationID != 0 || objects > 0 {
            throw StateError(.notAStateDatabase, "\(path): an SQLite database that is not a bgsync state database (application_id \(applicationID), \(objects) schema objects); refusing to touch it — move it away or choose another --state-dir", path: path)
        }
    }

    /// Applies the missing migrations, each in its own immediate transaction.
    static func migrate(_ db: Database, path: String) throws {
        try UserVersionMigrator(applicationID: applicationID, migrations: migrations)
            .migrate(db) { try checkFormat($0, path: path) }
    }
}
