import BGSyncTestSupport
import Foundation
import Testing

/// `bgsync schedule` / `unschedule` run as processes against a temporary unit directory and
/// crontab file (never /etc or the real crontab), and `systemd-analyze verify` on contrib's units.
@Suite("bgsync schedule", .serialized)
struct ScheduleCommandTests {
    static let contrib = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("contrib").path

    /// A sandbox with job `notes` (and `other`) in ~/.config/bgsync/jobs.
    func withSandbox(_ body: (JobSandbox) async throws -> Void) async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        try sandbox.write(".config/bgsync/jobs/notes.toml", "factory = \"main\"\n")
        try sandbox.write(".config/bgsync/jobs/other.toml", "tag = \"other\"\nfactory = \"main\"\n")
        try await body(sandbox)
    }

    func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    // MARK: systemd

    @Test("schedule --systemd twice writes identical files (second: unchanged); a new interval updates in place; unschedule removes")
    func systemdIdempotentAndUpdate() async throws {
        try await withSandbox { sandbox in
            let units = sandbox.root + "/units"
            let dropIn = units + "/bgsync@notes.timer.d/bgsync-schedule.conf"
            let first = try await sandbox.bgsync(["schedule", "notes", "--every", "15m", "--systemd", "--unit-dir", units], stateDir: false)
            #expect(first.status == 0, "\(first.stderr)")
            #expect(first.stdout.contains("created"))
            #expect(first.stdout.contains("not activated (--unit-dir was given)"))
            #expect(first.stdout.contains("systemctl daemon-reload"))
            #expect(first.stdout.contains("systemctl enable --now bgsync@notes.timer"))
            let text = try read(dropIn)
            #expect(text.contains("[Timer]\nOnBootSec=\nOnBootSec=5m\nOnUnitActiveSec=\nOnUnitActiveSec=15m\n"))
            let before = try FileManager.default.attributesOfItem(atPath: dropIn)

            let second = try await sandbox.bgsync(["schedule", "notes", "--every", "15m", "--systemd", "--unit-dir", units], stateDir: false)
            #expect(second.status == 0, "\(second.stderr)")
            #expect(second.stdout.contains("unchanged"))
            #expect(try read(dropIn) == text)
            let after = try FileManager.default.attributesOfItem(atPath: dropIn)
            #expect(after[.systemFileNumber] as? UInt64 == before[.systemFileNumber] as? UInt64)
            #expect(after[.modificationDate] as? Date == before[.modificationDate] as? Date)

            let update = try await sandbox.bgsync(["schedule", "notes", "--every", "1h", "--systemd", "--unit-dir", units], stateDir: false)
            #expect(update.status == 0, "\(update.stderr)")
            #expect(update.stdout.contains("updated"))
            let updated = try read(dropIn)
            #expect(updated.contains("OnUnitActiveSec=\nOnUnitActiveSec=1h\n"))
            #expect(!updated.contains("15m"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: units) == ["bgsync@notes.timer.d"])
            #expect(try FileManager.default.contentsOfDirectory(atPath: units + "/bgsync@notes.timer.d") == ["bgsync-schedule.conf"])

            let user = try await sandbox.bgsync(["schedule", "notes", "--every", "1h", "--systemd", "--user", "--unit-dir", units], stateDir: false)
            #expect(user.stdout.contains("systemctl --user enable --now bgsync@notes.timer"))

            let removed = try await sandbox.bgsync(["unschedule", "notes", "--systemd", "--unit-dir", units], stateDir: false)
            #expect(removed.status == 0, "\(removed.stderr)")
            #expect(removed.stdout.contains("removed"))
            #expect(removed.stdout.contains("systemctl disable --now bgsync@notes.timer"))
            #expect(!FileManager.default.fileExists(atPath: dropIn))
            let again = try await sandbox.bgsync(["unschedule", "notes", "--systemd", "--unit-dir", units], stateDir: false)
            #expect(again.status == 0)
            #expect(again.stdout.contains("absent"))
        }
    }

    @Test("the generated drop-in is accepted by systemd-analyze verify together with the timer",
          .enabled(if: ScheduleCommandTests.systemdAnalyze != nil, "systemd-analyze is not installed: the units cannot be verified"))
    func dropInVerifies() async throws {
        let analyze = try #require(Self.systemdAnalyze)
        try await withSandbox { sandbox in
            let units = sandbox.root + "/units"
            let run = try await sandbox.bgsync(["schedule", "x", "--every", "1h30m", "--systemd", "--unit-dir", units], stateDir: false, extraEnvironment: [:])
            // Job "x" does not exist: exit 66 and nothing written.
            #expect(run.status == 66)
            #expect(!FileManager.default.fileExists(atPath: units))
            try sandbox.write(".config/bgsync/jobs/x.toml", "factory = \"main\"\n")
            let ok = try await sandbox.bgsync(["schedule", "x", "--every", "1h30m", "--systemd", "--unit-dir", units], stateDir: false)
            #expect(ok.status == 0, "\(ok.stderr)")
            let dropIn = try read(units + "/bgsync@x.timer.d/bgsync-schedule.conf")
            // A timer carrying the template's settings plus the drop-in's lines, as systemd merges them.
            let timer = try read(Self.contrib + "/systemd/bgsync@.timer").replacingOccurrences(of: "[Install]", with: dropIn + "\n[Install]")
            let directory = try Self.verifyCopies(["bgsync@.service": try read(Self.contrib + "/systemd/bgsync@.service"), "bgsync@.timer": timer])
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let result = try Self.verify(analyze, directory: directory, user: false)
            #expect(result.status == 0 && result.stderr.isEmpty, "\(result.stderr)")
        }
    }

    @Test("--systemd needs a job name, not a path (the service runs `bgsync run %i`): exit 64")
    func systemdNeedsName() async throws {
        try await withSandbox { sandbox in
            let path = sandbox.root + "/.config/bgsync/jobs/notes.toml"
            let run = try await sandbox.bgsync(["schedule", path, "--every", "15m", "--systemd", "--unit-dir", sandbox.root + "/units"], stateDir: false)
            #expect(run.status == 64)
            #expect(run.stderr.contains("job name"))
            #expect(!FileManager.default.fileExists(atPath: sandbox.root + "/units"))
            let bad = try await sandbox.bgsync(["schedule", "notes", "--every", "soon", "--systemd", "--unit-dir", sandbox.root + "/units"], stateDir: false)
            #expect(bad.status == 64)
        }
    }

    // MARK: cron

    @Test("schedule --cron: add, unchanged, update in place, a second job, unschedule; other lines untouched")
    func cronBlock() async throws {
        try await withSandbox { sandbox in
            let original = "MAILTO=me@example.com\n# my own\n0 3 * * * /usr/bin/backup\n"
            let crontab = try sandbox.write("crontab", original)
            let notes = sandbox.root + "/.config/bgsync/jobs/notes.toml"
            let first = try await sandbox.bgsync(["schedule", "notes", "--every", "15m", "--cron", "--crontab-file", crontab], stateDir: false)
            #expect(first.status == 0, "\(first.stderr)")
            let line = "*/15 * * * * /usr/local/bin/bgsync run \(notes) --quiet # bgsync:notes"
            let text = try read(crontab)
            #expect(text.hasPrefix(original))
            #expect(text.split(separator: "\n").contains(Substring(line)))
            #expect(text.hasSuffix("# END bgsync\n"))

            let second = try await sandbox.bgsync(["schedule", "notes", "--every", "15m", "--cron", "--crontab-file", crontab], stateDir: false)
            #expect(second.status == 0, "\(second.stderr)")
            #expect(second.stdout.contains("unchanged"))
            #expect(try read(crontab) == text)

            let update = try await sandbox.bgsync(["schedule", "notes", "--every", "2h", "--cron", "--crontab-file", crontab], stateDir: false)
            #expect(update.status == 0, "\(update.stderr)")
            let updated = try read(crontab)
            let notesLines = updated.split(separator: "\n").filter { $0.hasSuffix("# bgsync:notes") }
            #expect(notesLines.count == 1)
            #expect(notesLines.first?.contains(" */2 * * * /usr/local/bin/bgsync run ") == true)
            #expect(updated.hasPrefix(original))

            let other = try await sandbox.bgsync(["schedule", "other", "--every", "1d", "--cron", "--crontab-file", crontab], stateDir: false)
            #expect(other.status == 0, "\(other.stderr)")
            let both = try read(crontab)
            #expect(both.split(separator: "\n").filter { $0.contains("# bgsync:") }.count == 2)
            // The notes line kept its place (first in the block).
            #expect(both.split(separator: "\n").firstIndex { $0.hasSuffix("# bgsync:notes") }! < both.split(separator: "\n").firstIndex { $0.hasSuffix("# bgsync:other") }!)

            let refused = try await sandbox.bgsync(["schedule", "notes", "--every", "7m", "--cron", "--crontab-file", crontab], stateDir: false)
            #expect(refused.status == 64)
            #expect(refused.stderr.contains("cron cannot"))
            #expect(try read(crontab) == both)

            let unNotes = try await sandbox.bgsync(["unschedule", "notes", "--cron", "--crontab-file", crontab], stateDir: false)
            #expect(unNotes.status == 0, "\(unNotes.stderr)")
            #expect(!(try read(crontab)).contains("# bgsync:notes"))
            #expect(try read(crontab).contains("# bgsync:other"))
            // By tag, even without the job file.
            try FileManager.default.removeItem(atPath: sandbox.root + "/.config/bgsync/jobs/other.toml")
            let unOther = try await sandbox.bgsync(["unschedule", "other", "--cron", "--crontab-file", crontab], stateDir: false)
            #expect(unOther.status == 0, "\(unOther.stderr)")
            #expect(try read(crontab) == original)
        }
    }

    @Test("--dry-run prints what would be written and writes nothing (systemd and cron)")
    func dryRun() async throws {
        try await withSandbox { sandbox in
            let units = sandbox.root + "/units"
            let systemd = try await sandbox.bgsync(["schedule", "notes", "--every", "15m", "--systemd", "--unit-dir", units, "--dry-run"], stateDir: false)
            #expect(systemd.status == 0, "\(systemd.stderr)")
            #expect(systemd.stdout.contains("would write \(units)/bgsync@notes.timer.d/bgsync-schedule.conf"))
            #expect(systemd.stdout.contains("OnUnitActiveSec=15m"))
            #expect(systemd.stdout.contains("would run: systemctl daemon-reload"))
            #expect(!FileManager.default.fileExists(atPath: units))

            let crontab = try sandbox.write("crontab", "0 3 * * * /usr/bin/backup\n")
            let cron = try await sandbox.bgsync(["schedule", "notes", "--every", "15m", "--cron", "--crontab-file", crontab, "--dry-run"], stateDir: false)
            #expect(cron.status == 0, "\(cron.stderr)")
            #expect(cron.stdout.contains("*/15 * * * * /usr/local/bin/bgsync run"))
            #expect(try read(crontab) == "0 3 * * * /usr/bin/backup\n")
            let missing = sandbox.root + "/no-crontab"
            _ = try await sandbox.bgsync(["schedule", "notes", "--every", "15m", "--cron", "--crontab-file", missing, "--dry-run"], stateDir: false)
            #expect(!FileManager.default.fileExists(atPath: missing))

            // Unschedule --dry-run leaves an installed schedule in place.
            _ = try await sandbox.bgsync(["schedule", "notes", "--every", "15m", "--systemd", "--unit-dir", units], stateDir: false)
            let un = try await sandbox.bgsync(["unschedule", "notes", "--systemd", "--unit-dir", units, "--dry-run"], stateDir: false)
            #expect(un.status == 0)
            #expect(FileManager.default.fileExists(atPath: units + "/bgsync@notes.timer.d/bgsync-schedule.conf"))
        }
    }

    // MARK: contrib units

    @Test("systemd-analyze verify accepts every unit in contrib/systemd (ExecStart pointed at /bin/true)",
          .enabled(if: ScheduleCommandTests.systemdAnalyze != nil, "systemd-analyze is not installed: the units cannot be verified"),
          arguments: ["systemd", "systemd/user"])
    func verifyContribUnits(folder: String) throws {
        let analyze = try #require(Self.systemdAnalyze)
        let source = Self.contrib + "/" + folder
        let names = try FileManager.default.contentsOfDirectory(atPath: source).filter { $0.hasSuffix(".service") || $0.hasSuffix(".timer") }.sorted()
        #expect(names == ["bgsync@.service", "bgsync@.timer"])
        var files: [String: String] = [:]
        for name in names {
            let text = try read(source + "/" + name)
            #expect(text.contains("ExecStart=/usr/local/bin/bgsync run %i") || name.hasSuffix(".timer"))
            files[name] = text
        }
        let directory = try Self.verifyCopies(files)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try Self.verify(analyze, directory: directory, user: folder.hasSuffix("user"))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty, "systemd-analyze complained: \(result.stderr)")
    }

    /// `systemd-analyze`, or nil (the tests that need it are then skipped, saying why).
    static let systemdAnalyze: String? =
        ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Copies of template units as instance `x` (`bgsync@x.service`), ExecStart at /bin/true.
    static func verifyCopies(_ files: [String: String]) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bgsync-units-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory + "/runtime", withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory + "/runtime")
        for (name, text) in files {
            let copy = text.replacingOccurrences(of: "/usr/local/bin/bgsync", with: "/bin/true")
            try Data(copy.utf8).write(to: URL(fileURLWithPath: directory + "/" + name.replacingOccurrences(of: "@.", with: "@x.")))
        }
        return directory
    }

    static func verify(_ analyze: String, directory: String, user: Bool) throws -> (status: Int32, stderr: String) {
        let ended = try TestProcess.run(
            analyze, ["verify", "--man=no"] + (user ? ["--user"] : []) + [directory + "/bgsync@x.service", directory + "/bgsync@x.timer"],
            environment: ["PATH": "/usr/bin:/bin", "XDG_RUNTIME_DIR": directory + "/runtime", "HOME": directory, "LANG": "C.UTF-8"],
            stdout: .discard)
        return (ended.status, ended.stderr)
    }
}
