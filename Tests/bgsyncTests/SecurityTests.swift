import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// TLS verification, secret files and secrets in output, observed on the real binary.
/// Serialized: child processes against a fixture server in this process.
@Suite("Security", .serialized)
struct SecurityTests {
    /// A TLS fixture server with one document, a sandbox with the certificate in `ca.pem`.
    func withTLSServer(_ body: (FixtureServer, JobSandbox) async throws -> Void) async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        try await withFixtureServer(FixtureServer.Configuration(tls: true)) { server in
            let remote = try server.createDatabase("db")
            try remote.write { _ = try $0.put(id: "over-tls", json: "{}") }
            try sandbox.write("ca.pem", FixtureCertificate.certificatePEM + "\n")
            try await body(server, sandbox)
        }
    }

    @Test("a self-signed server is refused by default (exit 77, a clear TLS error, no retries); tls.ca_file trusts it")
    func tlsVerifiedByDefault() async throws {
        try await withTLSServer { server, sandbox in
            #expect(server.url("db").hasPrefix("https://127.0.0.1:"))
            try sandbox.registry(remote: server.url("db"))
            let job = try sandbox.job()
            let refused = try await sandbox.bgsync(["run", job])
            #expect(refused.status == 77, "\(refused.stderr)")
            #expect(refused.stderr.contains("certificate"), "\(refused.stderr)")
            #expect(refused.stderr.contains("tls.ca_file"), "\(refused.stderr)")
            #expect(!refused.stderr.contains("after 6 attempts"), "a certificate that is not trusted is not retried: \(refused.stderr)")
            let pulledNothing = try !FileManager.default.fileExists(atPath: sandbox.localStore)
                || DocumentStore.open(at: sandbox.localStore).read { try $0.allDocuments() }.isEmpty
            #expect(pulledNothing)

            try sandbox.registry(remote: server.url("db"), extra: #"tls = { ca_file = "ca.pem" }"#)
            let trusted = try await sandbox.bgsync(["run", job, "--force"])
            #expect(trusted.status == 0, "\(trusted.stderr)")
            #expect(!trusted.stderr.contains("warning"), "\(trusted.stderr)")
            #expect(try DocumentStore.open(at: sandbox.localStore).read { try $0.allDocuments().map(\.id) } == ["over-tls"])
        }
    }

    @Test("tls.insecure = true must be written out, works, and warns on stderr at every run")
    func insecureWarns() async throws {
        try await withTLSServer { server, sandbox in
            try sandbox.registry(remote: server.url("db"), extra: #"tls = { insecure = true }"#)
            let job = try sandbox.job()
            let run = try await sandbox.bgsync(["run", job])
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stderr.contains("warning") && run.stderr.contains("TLS certificate verification is OFF"), "\(run.stderr)")
            let again = try await sandbox.bgsync(["run", job, "--force", "--json"])
            #expect(again.status == 0, "\(again.stderr)")
            #expect(again.stderr.contains("TLS certificate verification is OFF"), "\(again.stderr)")
            try sandbox.registry(remote: server.url("db"), extra: #"tls = { insecure = "yes" }"#)
            let typo = try await sandbox.bgsync(["run", job, "--force"])
            #expect(typo.status == 78, "\(typo.stderr)")
        }
    }

    @Test("bgsync sync verifies TLS too: refused without --ca-file (77), works with it; a missing --ca-file is 66")
    func syncCAFile() async throws {
        try await withTLSServer { server, sandbox in
            let local = sandbox.root + "/data/l.sqlite"
            let refused = try await sandbox.bgsync(["sync", local, server.url("db"), "--pull-only"], stateDir: false)
            #expect(refused.status == 77, "\(refused.stderr)")
            #expect(refused.stderr.contains("--ca-file"), "\(refused.stderr)")
            let trusted = try await sandbox.bgsync(["sync", local, server.url("db"), "--pull-only", "--ca-file", sandbox.root + "/ca.pem"], stateDir: false)
            #expect(trusted.status == 0, "\(trusted.stderr)")
            let missing = try await sandbox.bgsync(["sync", local, server.url("db"), "--ca-file", sandbox.root + "/nope.pem"], stateDir: false)
            #expect(missing.status == 66, "a file named on the command line: \(missing.stderr)")
            #expect(missing.stderr.contains("nope.pem"), "\(missing.stderr)")
        }
    }

    @Test("secret files readable by group or others are refused with exit 77, naming the file and chmod 600", arguments: [0o640, 0o604, 0o660])
    func secretFileModes(mode: Int) async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        try sandbox.registry(remote: "http://127.0.0.1:9/db", extra: #"auth = { type = "session", user = "alice", password_file = "secrets/pw" }"#)
        let secret = try sandbox.write("secrets/pw", "Hx7-secret-value\n", mode: mode)
        let job = try sandbox.job()
        let run = try await sandbox.bgsync(["run", job])
        #expect(run.status == 77, "\(run.stderr)")
        #expect(run.stderr.contains(secret) && run.stderr.contains("chmod 600 \(secret)"), "\(run.stderr)")
        #expect(!run.stderr.contains("Hx7-secret-value") && !run.stdout.contains("Hx7-secret-value"))
    }

    @Test("no command takes a secret as an argument value")
    func noSecretInArgv() async throws {
        let help = try DBCommandTests.bgsync(["sync", "--help"])
        #expect(help.stdout.contains("--password-file"))
        #expect(!help.stdout.contains("--password <") && !help.stdout.contains("--token"), "\(help.stdout)")
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        let run = try await sandbox.bgsync(["sync", sandbox.root + "/l.sqlite", "http://127.0.0.1:9/db", "--user", "u", "--password", "pw"], stateDir: false)
        #expect(run.status == 64, "\(run.stderr)")
    }

    @Test("a server that echoes credentials in its error reasons does not get them printed, stored or exported")
    func echoedCredentialsAreScrubbed() async throws {
        let password = "Kq3-echo-Pa55"
        let basic = Data("alice:\(password)".utf8).base64EncodedString()
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        try await withFixtureServer(FixtureServer.Configuration(users: ["alice": password])) { server in
            try server.createDatabase("db")
            try sandbox.write("secret", password + "\n", mode: 0o600)
            try FileManager.default.createDirectory(atPath: sandbox.root + "/metrics", withIntermediateDirectories: true)
            let job = try sandbox.job(body: "[metrics]\ntextfile = \"metrics/job.prom\"\n")
            var outputs: [String] = []
            for (auth, status) in [("basic", 401), ("basic", 403), ("session", 401), ("basic", 500)] {
                try sandbox.registry(remote: server.url("db"), extra: "auth = { type = \"\(auth)\", user = \"alice\", password_file = \"secret\" }\nmax_retries = 0")
                server.inject(.status(status, body: #"{"error":"unauthorized","reason":"bad header Basic \#(basic) for alice:\#(password) password=\#(password)"}"#,
                                      path: .prefix("/db"), times: 3))
                let run = try await sandbox.bgsync(["run", job, "--force", "--verbose", "--json"])
                #expect(run.status != 0, "\(run.stderr)")
                #expect(run.stderr.contains("bad header"), "the server's reason is still shown: \(run.stderr)")
                outputs += [run.stdout, run.stderr]
                server.clearFaults()
            }
            let status = try await sandbox.bgsync(["status", "--json"])
            outputs += [status.stdout, status.stderr]
            var files = [sandbox.root + "/metrics/job.prom"]
            for file in try FileManager.default.contentsOfDirectory(atPath: sandbox.state) { files.append(sandbox.state + "/" + file) }
            for file in files {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
                outputs.append(String(decoding: try Data(contentsOf: URL(fileURLWithPath: file)), as: UTF8.self))
            }
            for (index, output) in outputs.enumerated() {
                #expect(!output.contains(password) && !output.contains(basic), "output \(index) holds the credential: \(output.prefix(2000))")
            }
        }
    }

    @Test("URL user info is redacted in every message of sync: no database, a password in the URL, unsupported scheme (all usage errors)")
    func userInfoRedacted() async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        try await withFixtureServer(FixtureServer.Configuration(users: ["alice": "right"])) { server in
            try server.createDatabase("db")
            let secret = "Uv9-url-secret"
            let port = server.port
            let local = sandbox.root + "/data/l.sqlite"
            let cases: [(String, Int32)] = [
                ("http://alice:\(secret)@127.0.0.1:\(port)", 64),          // no database in the URL
                ("http://alice:\(secret)@127.0.0.1:\(port)/nope", 64),     // a password in the URL is refused
                ("http://alice:\(secret)@127.0.0.1:\(port)/db", 64),       // … whether right or wrong
                ("ftp://alice:\(secret)@127.0.0.1/db", 64),                // unsupported scheme
            ]
            for (url, expected) in cases {
                for extra in [["--json"], ["--verbose"]] {
                    let run = try await sandbox.bgsync(["sync", local, url] + extra, stateDir: false, extraEnvironment: ["BGSYNC_PASSWORD": "unused"])
                    #expect(run.status == expected, "\(url) \(extra): \(run.stderr)")
                    #expect(!run.stdout.contains(secret) && !run.stderr.contains(secret), "\(url) \(extra): \(run.stdout) \(run.stderr)")
                }
            }
        }
    }
}
