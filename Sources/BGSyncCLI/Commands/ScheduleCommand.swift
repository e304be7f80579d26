import ArgumentParser
import BGSyncJobs
import Foundation

/// Where a schedule goes.
enum ScheduleBackend: String, EnumerableFlag {
    case systemd, cron

    static func help(for value: ScheduleBackend) -> ArgumentHelp? {
        switch value {
        case .systemd: "A drop-in for the bgsync@JOB.timer template (default when systemd is running)."
        case .cron: "A line in bgsync's block of a crontab (default without systemd)."
        }
    }

    /// systemd when it is running, else cron.
    static var detected: ScheduleBackend {
        FileManager.default.fileExists(atPath: "/run/systemd/system") ? .systemd : .cron
    }
}

/// Options shared by `schedule` and `unschedule`.
struct ScheduleTargetOptions: ParsableArguments {
    @Flag(help: "The scheduler (default: systemd if it is running, else cron).")
    var backend: ScheduleBackend?
    @Flag(help: "The user's systemd manager (systemctl --user, ~/.config/systemd/user) instead of the system's.")
    var user = false
    @Flag(help: "Print what would be written and run; change nothing.")
    var dryRun = false
    @Option(help: ArgumentHelp("The systemd unit directory (default: /etc/systemd/system, or ~/.config/systemd/user with --user). systemctl is not run when given.", valueName: "dir"))
    var unitDir: String?
    @Option(help: ArgumentHelp("A crontab file to edit instead of the user's crontab (crontab -l / crontab -).", valueName: "file"))
    var crontabFile: String?

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    var resolvedBackend: ScheduleBackend {
        if let backend { return backend }
        if crontabFile != nil { return .cron }
        if unitDir != nil { return .systemd }
        return ScheduleBackend.detected
    }

    func unitDirectory() throws -> String {
        if let unitDir { return unitDir }
        guard user else { return "/etc/systemd/system" }
        if let config = environment["XDG_CONFIG_HOME"], !config.isEmpty { return config + "/systemd/user" }
        guard let home = environment["HOME"], !home.isEmpty else {
            throw UsageError(message: "--user: HOME is not set; give --unit-dir")
        }
        return home + "/.config/systemd/user"
    }

    /// The systemctl commands for `verbs`, run when systemd is there and the unit directory is
    /// its own; printed otherwise.
    func activate(_ commands: [[String]]) throws {
        let systemctl = Systemctl(user: user)
        let lines = systemctl.commandLines(commands)
        if dryRun {
            for line in lines { Console.out("would run: \(line)") }
            return
        }
        if let reason = unitDir != nil ? "--unit-dir was given" : Systemctl.unavailableReason {
            Console.out("not activated (\(reason)); run:")
            for line in lines { Console.out("  \(line)") }
            return
        }
        try systemctl.run(commands) { Console.out("ran: \($0)") }
    }

    /// The crontab `--crontab-file` names, or the user's.
    var crontab: Crontab { Crontab(file: crontabFile, environment: environment) }
}

/// `bgsync schedule JOB --every DURATION`: run a job periodically from a systemd timer or cron,
/// replacing an earlier schedule of the same job (`enqueueUniquePeriodicWork(…, UPDATE)`).
struct ScheduleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Run a job every DURATION from a systemd timer or cron (replacing its earlier schedule).",
        discussion: """
            systemd: writes bgsync@JOB.timer.d/bgsync-schedule.conf (OnUnitActiveSec=DURATION) into \
            the unit directory, then runs systemctl daemon-reload and enable --now bgsync@JOB.timer \
            (JOB must be a name in the jobs directory: the bgsync@.service template runs `bgsync run %i`). \
            cron: keeps one line per job, tagged `# bgsync:TAG`, in a marked block of the crontab. \
            Scheduling again with the same interval changes nothing.
            """)

    @Argument(help: "The job: a name in the jobs directory, or (cron only) a path.")
    var job: String
    @Option(help: ArgumentHelp("The interval, e.g. 15m, 1h, 1d.", valueName: "duration"))
    var every: String
    @OptionGroup var target: ScheduleTargetOptions
    @Option(help: ArgumentHelp("The bgsync binary cron runs (an absolute path).", valueName: "path"))
    var bgsyncPath = "/usr/local/bin/bgsync"

    func run() throws {
        do {
            guard let seconds = DurationText.seconds(every), seconds >= 1 else {
                throw UsageError(message: "--every \"\(every)\": expected \(DurationText.accepted)")
            }
            let interval = Int(seconds.rounded())
            let path = try JobFile.locate(job, environment: target.environment)
            let jobFile = try JobFile.load(path: path)
            switch target.resolvedBackend {
            case .systemd: try systemd(interval: interval, jobFile: jobFile)
            case .cron: try cron(interval: interval, path: path, jobFile: jobFile)
            }
        } catch {
            throw report(error)
        }
    }

    private func systemd(interval: Int, jobFile: JobFile) throws {
        guard !job.contains("/"), !job.hasSuffix(".toml"), JobTag.isValid(job) else {
            throw UsageError(message: "\(job): with --systemd, JOB must be a job name (NAME.toml in \(target.user ? "~/.config/bgsync/jobs" : "/etc/bgsync/jobs")): the bgsync@.service template runs `bgsync run %i`")
        }
        let dropIn = SystemdDropIn(instance: job, interval: interval, onBoot: min(300, interval))
        let path = dropIn.path(in: try target.unitDirectory())
        let change = try FileInstaller.install(dropIn.text, at: path, dryRun: target.dryRun)
        if target.dryRun {
            Console.out("would write \(path) (\(change == .unchanged ? "unchanged" : change.rawValue)):")
            Console.out(String(dropIn.text.dropLast()))
        } else {
            Console.out("\(path): \(change.rawValue) (every \(DurationText.format(Double(interval))))")
        }
        if let timeout = jobFile.schedule.timeout, timeout >= 1800 {
            Console.out("note: the job's timeout (\(DurationText.format(timeout))) is not below the service's TimeoutStartSec=30min: raise it in a bgsync@\(job).service drop-in")
        }
        try target.activate([["daemon-reload"], ["enable", "--now", dropIn.timerUnit]])
    }

    private func cron(interval: Int, path: String, jobFile: JobFile) throws {
        let expression = try CronSchedule.expression(every: interval, tag: jobFile.tag)
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        // cron runs the line with /bin/sh from the crontab owner's home: a relative path
        // would name another file there, or none.
        guard bgsyncPath.hasPrefix("/") else {
            throw UsageError(message: "--bgsync-path \(bgsyncPath): give the absolute path of the bgsync binary (cron runs the line from another directory), e.g. /usr/local/bin/bgsync")
        }
        let line = CrontabBlock.line(expression: expression, command: "\(Self.shellQuoted(bgsyncPath)) run \(Self.shellQuoted(absolute)) --quiet", tag: jobFile.tag)
        var block = CrontabBlock(try target.crontab.read())
        let change = block.set(line, for: jobFile.tag)
        if target.dryRun {
            Console.out("would \(change == .unchanged ? "leave unchanged" : change == .created ? "add" : "replace with") in \(target.crontab.name):")
            Console.out(line)
            return
        }
        if change != .unchanged { try target.crontab.write(block.text) }
        Console.out("\(target.crontab.name): \(change.rawValue): \(line)")
    }

    /// Quotes a path for cron's /bin/sh when it holds anything but safe characters (`%` is
    /// special to cron and escaped).
    static func shellQuoted(_ text: String) -> String {
        let safe = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:=,@")
        let escaped = text.replacingOccurrences(of: "%", with: "\\%")
        if text.unicodeScalars.allSatisfy({ safe.contains($0) }) { return escaped }
        return "'" + escaped.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

/// `bgsync unschedule JOB`: remove what `schedule` installed.
struct UnscheduleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unschedule",
        abstract: "Remove a job's schedule (the timer drop-in, or its crontab line).")

    @Argument(help: "The job: its name, its path or (cron) its tag.")
    var job: String
    @OptionGroup var target: ScheduleTargetOptions

    func run() throws {
        do {
            switch target.resolvedBackend {
            case .systemd: try systemd()
            case .cron: try cron()
            }
        } catch {
            throw report(error)
        }
    }

    private func systemd() throws {
        guard !job.contains("/"), !job.hasSuffix(".toml"), JobTag.isValid(job) else {
            throw UsageError(message: "\(job): with --systemd, JOB must be a job name")
        }
        let dropIn = SystemdDropIn(instance: job, interval: 0)
        let path = dropIn.path(in: try target.unitDirectory())
        let change = try FileInstaller.remove(at: path, dryRun: target.dryRun)
        Console.out(target.dryRun ? "would remove \(path) (\(change == .absent ? "absent" : "present"))" : "\(path): \(change.rawValue)")
        try target.activate([["disable", "--now", dropIn.timerUnit], ["daemon-reload"]])
    }

    private func cron() throws {
        var tag = job
        if let path = try? JobFile.locate(job, environment: target.environment), let loaded = try? JobFile.load(path: path) {
            tag = loaded.tag
        } else if job.hasSuffix(".toml") {
            tag = String((job as NSString).lastPathComponent.dropLast(5))
        }
        guard JobTag.isValid(tag) else { throw UsageError(message: "\"\(tag)\" is not a valid tag") }
        var block = CrontabBlock(try target.crontab.read())
        let old = block.line(for: tag)
        let change = block.remove(tag)
        if target.dryRun {
            Console.out(old.map { "would remove from \(target.crontab.name): \($0)" } ?? "\(target.crontab.name): no line for \(tag)")
            return
        }
        if change == .removed { try target.crontab.write(block.text) }
        Console.out("\(target.crontab.name): \(change == .removed ? "removed: " + (old ?? "") : "no line for \(tag) (absent)")")
    }
}
