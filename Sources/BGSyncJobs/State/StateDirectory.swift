#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the state database and the lock files live (DESIGN §5).
package enum StateDirectory {
    /// The state directory, first match wins:
    /// 1. `override` (`--state-dir`), when not empty;
    /// 2. `$STATE_DIRECTORY` (systemd's `StateDirectory=`; a colon-separated list → its first entry);
    /// 3. `$XDG_STATE_HOME/bgsync` (ignored unless absolute, as the XDG spec says);
    /// 4. `/var/lib/bgsync` for root;
    /// 5. `$HOME/.local/state/bgsync` (the home from the password database when `$HOME` is unset
    ///    or relative).
    ///
    /// Reads only `environment`, never the process's own, so tests can pass fakes.
    package static func resolve(override: String?, environment: [String: String], isRoot: Bool) -> String {
        if let override, !override.isEmpty { return override }
        if let list = environment["STATE_DIRECTORY"],
           let first = list.split(separator: ":", omittingEmptySubsequences: true).first {
            return String(first)
        }
        if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") {
            return join(state, "bgsync")
        }
        if isRoot { return "/var/lib/bgsync" }
        let home = environment["HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? passwordDatabaseHome() ?? "/"
        return join(home, ".local/state/bgsync")
    }

    private static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    private static func passwordDatabaseHome() -> String? {
        guard let entry = getpwuid(getuid()), let dir = entry.pointee.pw_dir else { return nil }
        let home = String(cString: dir)
        return home.hasPrefix("/") ? home : nil
    }
}
