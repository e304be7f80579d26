import Foundation

/// The system's (or with `user`, the user's) systemd manager, driven through `systemctl`.
package struct Systemctl: Sendable {
    /// `systemctl --user` instead of the system manager.
    package var user: Bool

    /// The system manager, or the user's.
    package init(user: Bool) { self.user = user }

    /// Why `systemctl` cannot be run here ("systemctl was not found", "systemd is not
    /// running"), or nil when it can.
    package static var unavailableReason: String? {
        if program == nil { return "systemctl was not found" }
        if !FileManager.default.fileExists(atPath: "/run/systemd/system") { return "systemd is not running" }
        return nil
    }

    static var program: String? {
        ["/usr/bin/systemctl", "/bin/systemctl"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Each command as a user would type it (`systemctl --user daemon-reload`).
    package func commandLines(_ commands: [[String]]) -> [String] {
        commands.map { ((user ? ["systemctl", "--user"] : ["systemctl"]) + $0).joined(separator: " ") }
    }

    /// Runs the commands in order (each at most 60 s); `ran` is told each one that succeeded.
    /// - Throws: ``InstallerError`` `systemTool` naming the command that failed, with its stderr.
    package func run(_ commands: [[String]], ran: (String) -> Void = { _ in }) throws {
        guard let program = Self.program else { throw InstallerError(.systemTool, "systemctl was not found") }
        for (command, line) in zip(commands, commandLines(commands)) {
            let outcome = try ChildProcess.runSynchronously([program] + (user ? ["--user"] : []) + command, timeout: 60)
            guard outcome.status == 0 else {
                let message = String(decoding: outcome.stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                throw InstallerError(.systemTool, "\(line) failed\(message.isEmpty ? "" : ": " + message)")
            }
            ran(line)
        }
    }
}
