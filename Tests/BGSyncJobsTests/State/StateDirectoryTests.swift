import BGSyncJobs
import Testing

@Suite("State directory")
struct StateDirectoryTests {
    static let home = ["HOME": "/home/alice"]

    @Test("--state-dir wins over everything")
    func override() {
        let environment = ["STATE_DIRECTORY": "/var/lib/bgsync", "XDG_STATE_HOME": "/x", "HOME": "/home/alice"]
        #expect(StateDirectory.resolve(override: "/tmp/s", environment: environment, isRoot: true) == "/tmp/s")
        #expect(StateDirectory.resolve(override: "", environment: environment, isRoot: true) == "/var/lib/bgsync")
    }

    @Test("systemd's STATE_DIRECTORY, its first entry when a list")
    func systemd() {
        #expect(StateDirectory.resolve(override: nil, environment: ["STATE_DIRECTORY": "/var/lib/bgsync", "XDG_STATE_HOME": "/x"], isRoot: false)
            == "/var/lib/bgsync")
        #expect(StateDirectory.resolve(override: nil, environment: ["STATE_DIRECTORY": "/var/lib/bgsync:/var/lib/other"], isRoot: true)
            == "/var/lib/bgsync")
        #expect(StateDirectory.resolve(override: nil, environment: ["STATE_DIRECTORY": "", "HOME": "/home/alice"], isRoot: false)
            == "/home/alice/.local/state/bgsync")
    }

    @Test("XDG_STATE_HOME when absolute")
    func xdg() {
        #expect(StateDirectory.resolve(override: nil, environment: ["XDG_STATE_HOME": "/home/alice/.state", "HOME": "/home/alice"], isRoot: false)
            == "/home/alice/.state/bgsync")
        #expect(StateDirectory.resolve(override: nil, environment: ["XDG_STATE_HOME": "/s/", "HOME": "/home/alice"], isRoot: true) == "/s/bgsync")
        // Relative and empty values are invalid (XDG Base Directory spec): ignored.
        #expect(StateDirectory.resolve(override: nil, environment: ["XDG_STATE_HOME": "state", "HOME": "/home/alice"], isRoot: false)
            == "/home/alice/.local/state/bgsync")
        #expect(StateDirectory.resolve(override: nil, environment: ["XDG_STATE_HOME": "", "HOME": "/home/alice"], isRoot: true) == "/var/lib/bgsync")
    }

    @Test("root: /var/lib/bgsync; others: ~/.local/state/bgsync")
    func fallbacks() {
        #expect(StateDirectory.resolve(override: nil, environment: Self.home, isRoot: true) == "/var/lib/bgsync")
        #expect(StateDirectory.resolve(override: nil, environment: Self.home, isRoot: false) == "/home/alice/.local/state/bgsync")
        #expect(StateDirectory.resolve(override: nil, environment: ["HOME": "/"], isRoot: false) == "/.local/state/bgsync")
        // Without HOME: the password database's home, still an absolute path.
        #expect(StateDirectory.resolve(override: nil, environment: [:], isRoot: false).hasSuffix("/.local/state/bgsync"))
        #expect(StateDirectory.resolve(override: nil, environment: [:], isRoot: false).hasPrefix("/"))
    }
}
