import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// Logs, progress bar, metrics textfile, hooks and secrets, observed on the real binary.
/// Serialized: child processes run against a fixture server in this process.
@Suite("bgsync output", .serialized)
struct OutputTests {
    // MARK: Helpers

    /// A finished child whose stderr went to a file we created first (so its dev:inode is known).
    struct Captured {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the binary with stderr to `stderrPath` (created before the child starts).
    func run(_ sandbox: JobSandbox, _ arguments: [String], stderrPath: String, environment extra: [String: String] = [:]) async throws -> Captured {
        let binary = try #require(DBCommandTests.binary)
        let stdoutPath = stderrPath + ".out"
        FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        var environment = sandbox.environment
        for (key, value) in extra { environment[key] = value }
        let ended = try await TestProcess(binary, arguments + ["--state-dir", sandbox.state], environment: environment,
                                          stdout: .file(stdoutPath), stderr: .file(stderrPath)).finish()
        return Captured(status: ended.status,
                        stdout: try String(contentsOfFile: stdoutPath, encoding: .utf8),
                        stderr: try String(contentsOfFile: stderrPath, encoding: .utf8))
    }

    /// Runs `bgsync ARGUMENTS` under a pseudo-terminal (`script`); returns everything it printed.
    func runUnderPTY(_ sandbox: JobSandbox, _ arguments: [String], environment extra: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        let binary = try #require(DBCommandTests.binary)
        let command = ([binary] + arguments + ["--state-dir", sandbox.state]).map { "'" + $0 + "'" }.joined(separator: " ")
        var environment = sandbox.environment
        environment["SHELL"] = "/bin/sh"
        environment["TERM"] = "xterm"
        for (key, value) in extra { environment[key] = value }
        let ended = try await TestProcess("/usr/bin/script", ["-qfec", command, "/dev/null"], environment: environment,
                                          stderr: .standardOutput).finish()
        return (ended.status, ended.stdout)
    }

    /// A sandbox whose job syncs with a second local store holding `documents` documents.
    func localSandbox(documents: Int = 3, jobBody: String = "") throws -> (JobSandbox, String) {
        try JobSandbox.withLocalHub(documents: documents, jobBody: jobBody)
    }

    func deviceInode(_ path: String) throws -> String {
        var info = stat()
        try #require(stat(path, &info) == 0)
        return "\(info.st_dev):\(info.st_ino)"
    }

    // MARK: Logs

    @Test("JOURNAL_STREAM matching stderr's dev:inode gives <N> priorities; another value gives plain lines")
    func journald() async throws {
        let (sandbox, job) = try localSandbox()
        defer { sandbox.remove() }
        let stderrPath = sandbox.root + "/journal-stderr"
        FileManager.default.createFile(atPath: stderrPath, contents: nil)
        let stream = try deviceInode(stderrPath)
        let matched = try await run(sandbox, ["run", job, "--verbose", "--force"], stderrPath: stderrPath,
                                    environment: ["JOURNAL_STREAM": stream, "TERM": "xterm"])
        #expect(matched.status == 0, "\(matched.stderr)")
        let lines = matched.stderr.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("<6>synced") && $0.contains("tag=job") }, "\(matched.stderr)")
        #expect(!matched.stderr.contains("\u{1B}["))
        #expect(!matched.stderr.contains("bgsync: info"))

        // Inherited from a service but redirected: the variable names another stream.
        let otherPath = sandbox.root + "/other-stderr"
        let other = try await run(sandbox, ["run", job, "--verbose", "--force"], stderrPath: otherPath,
                                  environment: ["JOURNAL_STREAM": "1:1", "TERM": "xterm"])
        #expect(other.status == 0, "\(other.stderr)")
        #expect(other.stderr.split(separator: "\n").contains { $0.hasPrefix("bgsync: info: synced") && $0.contains("tag=job") }, "\(other.stderr)")
        #expect(!other.stderr.contains("<6>"))
        #expect(!other.stderr.contains("\u{1B}["))
    }

    @Test("colour only on a terminal without NO_COLOR; piped stderr has none")
    func colour() async throws {
        let (sandbox, job) = try localSandbox()
        defer { sandbox.remove() }
        let piped = try await sandbox.bgsync(["run", job, "--verbose", "--force"], extraEnvironment: ["TERM": "xterm-256color"])
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(piped.stderr.contains("bgsync: info: synced"), "\(piped.stderr)")
        #expect(!piped.stderr.contains("\u{1B}["))

        let coloured = try await runUnderPTY(sandbox, ["run", job, "--verbose", "--force"])
        #expect(coloured.status == 0, "\(coloured.output)")
        #expect(coloured.output.contains("\u{1B}[36minfo\u{1B}[0m: synced"), "\(coloured.output.debugDescription)")

        let noColour = try await runUnderPTY(sandbox, ["run", job, "--verbose", "--force"], environment: ["NO_COLOR": "1"])
        #expect(noColour.status == 0)
        #expect(noColour.output.contains("info: synced"))
        #expect(!noColour.output.contains("\u{1B}["), "\(noColour.output.debugDescription)")

        let dumb = try await runUnderPTY(sandbox, ["run", job, "--verbose", "--force"], environment: ["TERM": "dumb"])
        #expect(dumb.output.contains("info: synced"))
        #expect(!dumb.output.contains("\u{1B}["))
    }

    // MARK: Progress bar

    @Test("the progress bar is drawn under a terminal (and cleared), never when piped")
    func progressBar() async throws {
        let (sandbox, job) = try localSandbox(documents: 20)
        defer { sandbox.remove() }
        let terminal = try await runUnderPTY(sandbox, ["run", job, "--force"])
        #expect(terminal.status == 0, "\(terminal.output)")
        #expect(terminal.output.contains("\rpull: "), "\(terminal.output.debugDescription)")
        #expect(terminal.output.contains(" written, "))
        // Cleared: the last drawing is followed by a carriage return over blanks.
        #expect(terminal.output.contains(" \r"), "\(terminal.output.debugDescription)")
        #expect(terminal.output.contains("job: synced"))

        let piped = try await sandbox.bgsync(["run", job, "--force"])
        #expect(piped.status == 0)
        #expect(!piped.stderr.contains("\r"))
        #expect(!piped.stdout.contains("\r"))
        #expect(!piped.stderr.contains("pull: "))
    }

    // MARK: Metrics

    @Test("the metrics textfile parses as Prometheus text and is replaced atomically; a skip keeps the run's samples")
    func metricsTextfile() async throws {
        let (sandbox, job) = try localSandbox(jobBody: "[schedule]\ninterval = \"1h\"\n\n[metrics]\ntextfile = \"metrics/bgsync-job.prom\"\n")
        defer { sandbox.remove() }
        let directory = sandbox.root + "/metrics"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/bgsync-job.prom"

        let first = try await sandbox.bgsync(["run", job])
        #expect(first.status == 0, "\(first.stderr)")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let samples = try PrometheusText.parse(text)
        #expect(samples.value("bgsync_last_run_outcome", ["tag": "job", "outcome": "synced"]) == 1)
        #expect(samples.value("bgsync_last_run_outcome", ["tag": "job", "outcome": "failed"]) == 0)
        #expect(samples.value("bgsync_last_run_outcome", ["tag": "job", "outcome": "skipped"]) == 0)
        #expect(samples.value("bgsync_last_run_outcome", ["tag": "job", "outcome": "interrupted"]) == 0)
        #expect(samples.value("bgsync_documents_written", ["tag": "job", "direction": "pull"]) == 3)
        #expect(samples.value("bgsync_documents_written", ["tag": "job", "direction": "push"]) == 0)
        #expect(samples.value("bgsync_consecutive_failures", ["tag": "job"]) == 0)
        let success = try #require(samples.value("bgsync_last_success_timestamp_seconds", ["tag": "job"]))
        #expect(abs(success - Date().timeIntervalSince1970) < 120)
        #expect(samples.value("bgsync_last_run_duration_seconds", ["tag": "job"]) != nil)
        for name in ["bgsync_last_run_timestamp_seconds", "bgsync_documents_read", "bgsync_bytes", "bgsync_doc_write_failures"] {
            #expect(samples.types[name] == "gauge", "\(name)")
        }
        let inode1 = try deviceInode(path)

        let second = try await sandbox.bgsync(["run", job, "--force"])
        #expect(second.status == 0)
        let inode2 = try deviceInode(path)
        #expect(inode1 != inode2, "the file is replaced by rename, not rewritten in place")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["bgsync-job.prom"])

        // Not due: a skip updates the outcome and last-run gauges, keeps the run's samples.
        let skipped = try await sandbox.bgsync(["run", job])
        #expect(skipped.status == 0)
        let afterSkip = try PrometheusText.parse(try String(contentsOfFile: path, encoding: .utf8))
        #expect(afterSkip.value("bgsync_last_run_outcome", ["tag": "job", "outcome": "skipped"]) == 1)
        #expect(afterSkip.value("bgsync_last_run_outcome", ["tag": "job", "outcome": "synced"]) == 0)
        #expect(afterSkip.value("bgsync_documents_written", ["tag": "job", "direction": "pull"]) == 0)
        #expect(afterSkip.value("bgsync_last_success_timestamp_seconds", ["tag": "job"]) != nil)
        #expect(afterSkip.value("bgsync_last_run_duration_seconds", ["tag": "job"]) != nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["bgsync-job.prom"])
    }

    @Test("an unwritable metrics textfile is logged and does not change the outcome")
    func metricsFailure() async throws {
        let (sandbox, job) = try localSandbox(jobBody: "[metrics]\ntextfile = \"no/such/dir/bgsync-job.prom\"\n")
        defer { sandbox.remove() }
        let run = try await sandbox.bgsync(["run", job, "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try JSONValue.parse(run.stdout)["outcome"]?.stringValue == "synced")
        #expect(run.stderr.contains("metrics"), "\(run.stderr)")
    }

    // MARK: Secrets and hooks against a server

    @Test("a password (password file, URL user info) never appears in output, state or metrics")
    func secretsNeverPrinted() async throws {
        let password = "Zq8-s3cret-Pa55word"
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        try await withFixtureServer(FixtureServer.Configuration(users: ["alice": password])) { server in
            let remote = try server.createDatabase("db")
            try remote.write { tx in for i in 0..<3 { _ = try tx.put(id: "r\(i)", json: #"{"n":\#(i)}"#) } }
            try sandbox.registry(remote: server.url("db"), extra: "auth = { user = \"alice\", password_file = \"secret\" }")
            try sandbox.write("secret", password + "\n", mode: 0o600)
            try FileManager.default.createDirectory(atPath: sandbox.root + "/metrics", withIntermediateDirectories: true)
            let job = try sandbox.job(body: "[metrics]\ntextfile = \"metrics/bgsync-job.prom\"\n")
            var outputs: [String] = []

            let synced = try await sandbox.bgsync(["run", job, "--verbose", "--json"])
            #expect(synced.status == 0, "\(synced.stderr)")
            outputs += [synced.stdout, synced.stderr]
            let human = try await sandbox.bgsync(["run", job, "--verbose", "--force"])
            outputs += [human.stdout, human.stderr]
            let status = try await sandbox.bgsync(["status", "--json"])
            outputs += [status.stdout, status.stderr]

            // A wrong password: refused (77), still nothing printed.
            try sandbox.write("secret", "wrong-\(password)\n", mode: 0o600)
            let refused = try await sandbox.bgsync(["run", job, "--verbose", "--force"])
            #expect(refused.status == 77, "\(refused.stderr)")
            outputs += [refused.stdout, refused.stderr]
            try sandbox.write("secret", password + "\n", mode: 0o600)

            // The password written in the URL's user info.
            let url = try #require(URLComponents(string: server.url("db")))
            let withUserInfo = "\(url.scheme!)://alice:\(password)@\(url.host!):\(url.port!)\(url.path)"
            try sandbox.write("registry.toml", """
                [factories.main]
                database = "data/local.sqlite"
                remote = "\(withUserInfo)"
                """)
            let inURL = try await sandbox.bgsync(["run", job, "--verbose", "--force"])
            // Refused as a configuration error pointing at auth.password_file, without the password.
            #expect(inURL.status == 78 && inURL.stderr.contains("auth.password_file"), "\(inURL.stderr)")
            outputs += [inURL.stdout, inURL.stderr]
            let inURLJSON = try await sandbox.bgsync(["run", job, "--verbose", "--force", "--json"])
            outputs += [inURLJSON.stdout, inURLJSON.stderr]

            for (index, output) in outputs.enumerated() {
                #expect(!output.contains(password), "output \(index) shows the password: \(output)")
            }
            for file in try FileManager.default.contentsOfDirectory(atPath: sandbox.state) {
                let path = sandbox.state + "/" + file
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
                let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
                #expect(bytes.range(of: Data(password.utf8)) == nil, "\(file) holds the password")
            }
            let metrics = try Data(contentsOf: URL(fileURLWithPath: sandbox.root + "/metrics/bgsync-job.prom"))
            #expect(metrics.range(of: Data(password.utf8)) == nil)
        }
    }

    @Test("on_success gets the result JSON on stdin and BGSYNC_OUTCOME; a failing on_failure keeps the exit code")
    func hooks() async throws {
        let password = "hook-pass-1"
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        try await withFixtureServer(FixtureServer.Configuration(users: ["alice": password])) { server in
            let remote = try server.createDatabase("db")
            try remote.write { tx in _ = try tx.put(id: "r0", json: "{}") }
            try sandbox.registry(remote: server.url("db"), extra: "auth = { user = \"alice\", password_file = \"secret\" }")
            try sandbox.write("secret", password + "\n", mode: 0o600)
            let hook = try sandbox.write("bin/hook", """
                #!/bin/sh
                cat > "$HOME/hook-stdin.json"
                printf '%s' "$BGSYNC_OUTCOME" > "$HOME/hook-outcome"
                """, mode: 0o755)
            let failing = try sandbox.write("bin/failing-hook", """
                #!/bin/sh
                printf '%s' "$BGSYNC_OUTCOME" > "$HOME/failing-outcome"
                echo "hook broke" >&2
                exit 3
                """, mode: 0o755)
            let job = try sandbox.job(body: "[hooks]\non_success = [\"\(hook)\"]\non_failure = [\"\(failing)\"]\n")

            let synced = try await sandbox.bgsync(["run", job])
            #expect(synced.status == 0, "\(synced.stderr)")
            let stdin = try JSONValue.parse(try String(contentsOfFile: sandbox.root + "/hook-stdin.json", encoding: .utf8))
            #expect(stdin["outcome"]?.stringValue == "synced")
            #expect(stdin["tag"]?.stringValue == "job")
            #expect(try String(contentsOfFile: sandbox.root + "/hook-outcome", encoding: .utf8) == "synced")
            #expect(!FileManager.default.fileExists(atPath: sandbox.root + "/failing-outcome"))

            try sandbox.write("secret", "wrong\n", mode: 0o600)
            let refused = try await sandbox.bgsync(["run", job, "--force"])
            #expect(refused.status == 77, "a failing hook does not change the exit code: \(refused.stderr)")
            #expect(try String(contentsOfFile: sandbox.root + "/failing-outcome", encoding: .utf8) == "failed")
            #expect(refused.stderr.contains("hook failed"), "\(refused.stderr)")
        }
    }
}

/// A small parser of the Prometheus text exposition format (0.0.4), strict enough for tests.
struct PrometheusText {
    struct Sample: Equatable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    var samples: [Sample] = []
    var types: [String: String] = [:]
    var help: [String: String] = [:]

    func value(_ name: String, _ labels: [String: String]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    static func isName(_ text: Substring) -> Bool {
        guard let first = text.first, first.isASCII, first.isLetter || first == "_" || first == ":" else { return false }
        return text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ":") }
    }

    static func parse(_ text: String) throws -> PrometheusText {
        var result = PrometheusText()
        guard text.hasSuffix("\n") else { throw ParseError(description: "the text must end with a newline") }
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().enumerated() {
            let where_ = "line \(number + 1): \(line)"
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
                guard parts.count >= 3, parts[0] == "#" else { continue }
                guard isName(parts[2]) else { throw ParseError(description: "bad metric name, \(where_)") }
                if parts[1] == "TYPE" {
                    guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(String(parts[3])) else {
                        throw ParseError(description: "bad TYPE, \(where_)")
                    }
                    guard result.types[String(parts[2])] == nil else { throw ParseError(description: "second TYPE, \(where_)") }
                    guard !result.samples.contains(where: { $0.name == parts[2] }) else { throw ParseError(description: "TYPE after samples, \(where_)") }
                    result.types[String(parts[2])] = String(parts[3])
                } else if parts[1] == "HELP" {
                    result.help[String(parts[2])] = parts.count == 4 ? String(parts[3]) : ""
                }
                continue
            }
            var rest = Substring(line)
            let name = rest.prefix { $0 != "{" && $0 != " " }
            guard isName(name) else { throw ParseError(description: "bad metric name, \(where_)") }
            rest = rest.dropFirst(name.count)
            var labels: [String: String] = [:]
            if rest.first == "{" {
                rest = rest.dropFirst()
                while rest.first != "}" {
                    let label = rest.prefix { $0 != "=" }
                    guard isName(label), !label.hasPrefix("__") else { throw ParseError(description: "bad label name, \(where_)") }
                    rest = rest.dropFirst(label.count)
                    guard rest.hasPrefix("=\"") else { throw ParseError(description: "expected =\", \(where_)") }
                    rest = rest.dropFirst(2)
                    var value = ""
                    while let c = rest.first, c != "\"" {
                        rest = rest.dropFirst()
                        if c == "\\" {
                            guard let escaped = rest.first else { throw ParseError(description: "bad escape, \(where_)") }
                            rest = rest.dropFirst()
                            switch escaped {
                            case "\\": value.append("\\")
                            case "\"": value.append("\"")
                            case "n": value.append("\n")
                            default: throw ParseError(description: "bad escape, \(where_)")
                            }
                        } else {
                            value.append(c)
                        }
                    }
                    guard rest.first == "\"" else { throw ParseError(description: "unterminated label value, \(where_)") }
                    rest = rest.dropFirst()
                    guard labels.updateValue(value, forKey: String(label)) == nil else { throw ParseError(description: "duplicate label, \(where_)") }
                    if rest.first == "," { rest = rest.dropFirst() } else if rest.first != "}" { throw ParseError(description: "expected , or }, \(where_)") }
                }
                rest = rest.dropFirst()
            }
            guard rest.first == " " else { throw ParseError(description: "expected a space before the value, \(where_)") }
            let fields = rest.dropFirst().split(separator: " ")
            guard (1...2).contains(fields.count) else { throw ParseError(description: "bad value, \(where_)") }
            let valueText = String(fields[0])
            guard let value = Double(valueText) ?? ["NaN": .nan, "+Inf": .infinity, "-Inf": -.infinity][valueText] else {
                throw ParseError(description: "bad value, \(where_)")
            }
            guard result.types[String(name)] != nil else { throw ParseError(description: "sample without TYPE, \(where_)") }
            let sample = Sample(name: String(name), labels: labels, value: value)
            guard !result.samples.contains(where: { $0.name == sample.name && $0.labels == sample.labels }) else {
                throw ParseError(description: "duplicate sample, \(where_)")
            }
            result.samples.append(sample)
        }
        for name in result.types.keys where result.help[name] == nil {
            throw ParseError(description: "\(name) has a TYPE but no HELP")
        }
        return result
    }
}
