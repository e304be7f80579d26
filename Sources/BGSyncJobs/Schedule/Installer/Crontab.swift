import Foundation

/// Where `bgsync schedule --cron` reads and writes the crontab: a file given with
/// `--crontab-file` (e.g. `/etc/cron.d/bgsync`), or the user's crontab through the `crontab`
/// program found on `PATH` (`crontab -l`, `crontab -`).
package struct Crontab: Sendable {
    /// A crontab file to edit instead of the user's crontab.
    package var file: String?
    /// The environment `crontab` is looked up in (`PATH`) and named after (`USER`).
    package var environment: [String: String]

    /// A crontab at `file`, or the user's when nil.
    package init(file: String?, environment: [String: String]) {
        self.file = file
        self.environment = environment
    }

    /// For messages: the file, or "the crontab of USER".
    package var name: String { file ?? "the crontab of \(environment["USER"] ?? "this user")" }

    /// The crontab's text (empty when there is none).
    package func read() throws -> String {
        if let file {
            guard FileManager.default.fileExists(atPath: file) else { return "" }
            guard let data = FileManager.default.contents(atPath: file) else {
                throw InstallerError(.io, "\(file): cannot read it")
            }
            return String(decoding: data, as: UTF8.self)
        }
        let outcome = try ChildProcess.runSynchronously([try program(), "-l"], timeout: 30)
        if outcome.status == 0 { return String(decoding: outcome.stdout, as: UTF8.self) }
        let message = String(decoding: outcome.stderr, as: UTF8.self)
        if message.lowercased().contains("no crontab") { return "" }
        throw InstallerError(.systemTool, "crontab -l failed: \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
    }

    /// Replaces the crontab with `text`.
    package func write(_ text: String) throws {
        if let file {
            _ = try FileInstaller.install(text, at: file, dryRun: false)
            return
        }
        let outcome = try ChildProcess.runSynchronously([try program(), "-"], input: Array(text.utf8), timeout: 30)
        guard outcome.status == 0 else {
            let message = String(decoding: outcome.stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw InstallerError(.systemTool, "crontab - failed: \(message)")
        }
    }

    private func program() throws -> String {
        let path = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map { String($0) + "/crontab" }
        guard let found = path.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw InstallerError(.systemTool, "crontab was not found on PATH; install cron, or give --crontab-file FILE (e.g. /etc/cron.d/bgsync) or use --systemd")
        }
        return found
    }
}
