import BGSyncJobs
import BGSyncReplication
import BGSyncStore
import BGSyncTestSupport
import Foundation
import PropertyBased
import Testing

/// Job files and registries mutated from valid ones (values of other types, huge numbers,
/// non-finite floats, Unicode and NUL escapes, renamed and repeated keys, broken syntax): they
/// load, or fail with a ``JobError`` naming the file — never a crash, never another error.
@Suite("Hostile job files and registries")
struct ConfigurationFuzzTests {
    static let job = """
        tag = "notes"
        factory = "main"

        [input]
        user = "alice"
        n = 3

        [constraints]
        network = "unmetered"
        battery_not_low = true
        min_battery_percent = 20
        min_free_storage = "500 MB"

        [schedule]
        interval = "12h"
        flex = "1h"
        timeout = "10m"

        [backoff]
        policy = "exponential"
        delay = "30s"
        max = "5h"

        [hooks]
        timeout = "5s"

        [metrics]
        textfile = "metrics/notes.prom"
        """

    static let registry = """
        [factories.main]
        kind = "declarative"
        database = "data/${input.user}.sqlite"
        remote = "https://couch.example.com/notes_${input.user}"
        direction = "pull-and-push"
        batch_size = 100
        request_timeout = "30s"
        max_retries = 3
        auth = { type = "session", user = "${input.user}", password_env = "BGSYNC_FUZZ_PW" }
        tls = { ca_file = "ca.pem", insecure = false }
        headers = { X-Trace = "1" }
        pull_filter = { selector = { type = "note", n = { "$gt" = 1 } } }

        [factories.local]
        database = "data/a.sqlite"
        remote = "file:data/b.sqlite"
        push_filter = { doc_ids = ["a", "b"] }
        """

    /// TOML values of every type, and the edge cases of each.
    static let values = [
        "\"\"", "\"x\"", "\"\\u0000\"", "\"a\\u0000b\"", "\"\\uD7FF\\uE000\\U0010FFFF\"", "'literal ${input.user}'",
        "\"${input.}\"", "\"${input.user\"", "\"${env.HOME}\"", "\"../../etc/passwd\"", "\"http://u:p@h/db\"",
        "\"file:\"", "\"https://\"", "\"12x\"", "\"-5s\"", "\"1e400s\"", "\"99999999999999999999 MB\"",
        "0", "-1", "9223372036854775807", "-9223372036854775808", "0x7fffffffffffffff", "1e308", "inf", "-inf", "nan",
        "1.5", "true", "false", "[]", "[1, \"a\", [2]]", "{}", "{ a = { b = { c = 1 } } }",
        "1979-05-27T07:32:00Z", "07:32:00", "1979-05-27",
        String(repeating: "[", count: 300) + String(repeating: "]", count: 300),
        "\"" + String(repeating: "é", count: 5000) + "\"",
    ]

    /// A line-level mutation of TOML text: a value replaced, a key renamed, a line repeated or
    /// removed, a table header broken — or a byte-level one.
    static func mutate(_ text: String, _ rng: inout SeededRandom) -> [UInt8] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            guard !lines.isEmpty else { break }
            let index = Int.random(in: 0..<lines.count, using: &rng)
            let line = lines[index]
            switch Int.random(in: 0..<8, using: &rng) {
            case 0, 1, 2:
                if let equals = line.firstIndex(of: "=") {
                    lines[index] = String(line[...equals]) + " " + rng.pick(values)
                }
            case 3:
                if let equals = line.firstIndex(of: "=") {
                    lines[index] = rng.pick(["\"\\u0000\"", "tag", "x.y", "\"\"", "factories", "é", "a b"]) + " " + String(line[equals...])
                }
            case 4: lines.insert(line, at: index)
            case 5: lines.remove(at: index)
            case 6: lines.insert(rng.pick(["[input]", "[[input]]", "[factories.main]", "[schedule", "[factories]", "factories = 1", "[a.b.c.d]"]), at: index)
            default: return HostileInput.mutateBytes(Array(lines.joined(separator: "\n").utf8), &rng)
            }
        }
        return Array(lines.joined(separator: "\n").utf8)
    }

    @Test("found by fuzzing: sizes beyond Int64, endless durations, nan/inf and nameless table headers are refused instead of trapping (regression)",
          arguments: ["[constraints]\nmin_free_storage = \"99999999999999999999 MB\"",
                      "[schedule]\ninterval = 9223372036854775807",
                      "[schedule]\ntimeout = \"" + String(repeating: "9", count: 400) + "s\"",
                      "[schedule]\nflex = \"36600d\"",
                      "[input]\nratio = inf", "[input]\nlist = [1.5, nan]", "[ = \"alice\"\nn = 3", "[[.x]]"])
    func refusedInsteadOfTrapping(_ text: String) throws {
        #expect(ByteSize.bytes("99999999999999999999 MB") == nil)
        #expect(DurationText.seconds(String(repeating: "9", count: 400) + "s") == nil)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bgsync-fuzz-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/job.toml"
        try Data(("factory = \"main\"\n" + text + "\n").utf8).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try JobFile.load(path: path)
        } throws: { error in
            guard let error = error as? JobError else { return false }
            return error.kind == .configuration && error.message.contains(path)
        }
    }

    @Test("mutated job files load or fail with a JobError naming the file")
    func jobFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bgsync-fuzz-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let count = HostileInput.iterations(default: 1500)
        var loaded = 0
        for seed in 0..<UInt64(count) {
            var rng = SeededRandom(seed: seed)
            let path = dir + "/job\(seed % 8).toml"
            try Data(Self.mutate(Self.job, &rng)).write(to: URL(fileURLWithPath: path))
            do {
                let job = try JobFile.load(path: path)
                loaded += 1
                // What reaches an exec factory's stdin and `${input.*}` is valid JSON.
                let input = JSONValue.object(job.input).serialized
                #expect((try? JSONValue.parse(input)) != nil, "seed \(seed): [input] serializes to invalid JSON: \(input.prefix(200))")
                #expect(!job.tag.isEmpty && !job.tag.contains("/"), "seed \(seed)")
            } catch let error as JobError {
                #expect(error.message.contains(path), "seed \(seed): \(error.message)")
            } catch {
                Issue.record("seed \(seed): not a JobError: \(type(of: error)) \(error)")
            }
        }
        print("mutated job files: \(count) iterations, \(loaded) loaded")
    }

    @Test("mutated registries load or fail with a JobError; declarative factories build or fail with a JobError")
    func registries() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bgsync-fuzz-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let count = HostileInput.iterations(default: 1500)
        var built = 0
        let input = JSONObject([("user", .string("alice")), ("n", .number("3"))])
        for seed in 0..<UInt64(count) {
            var rng = SeededRandom(seed: seed)
            let path = dir + "/registry\(seed % 8).toml"
            try Data(Self.mutate(Self.registry, &rng)).write(to: URL(fileURLWithPath: path))
            do {
                let registry = try FactoryRegistry.load(path: path, required: true)
                for (name, entry) in registry.entries {
                    // Only declarative factories: an exec factory would run a program.
                    guard case .declarative = entry else { continue }
                    let configuration = try await registry.makeConfiguration(factory: name, input: input, environment: ["BGSYNC_FUZZ_PW": "pw"])
                    built += 1
                    #expect(!configuration.database.isEmpty, "seed \(seed)")
                    #expect(!configuration.database.utf8.contains(0), "seed \(seed): a database path with NUL: \(configuration.database.debugDescription)")
                    #expect(!"\(configuration.remote)".contains("u:p@"), "seed \(seed)")
                }
            } catch let error as JobError {
                #expect(!error.message.isEmpty, "seed \(seed)")
            } catch {
                Issue.record("seed \(seed): not a JobError: \(type(of: error)) \(error)")
            }
        }
        print("mutated registries: \(count) iterations, \(built) configurations built")
    }

    @Test("random [input] tables (any TOML value) reach factories as valid JSON")
    func inputValues() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bgsync-fuzz-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/job.toml"
        await propertyCheck(count: HostileInput.iterations(default: 300),
                            input: Gen<String?>.element(of: Self.values).map { $0 ?? "1" }.array(of: 1...4)) { items in
            var text = "factory = \"main\"\n[input]\n"
            for (index, value) in items.enumerated() { text += "k\(index) = \(value)\n" }
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            do {
                let job = try JobFile.load(path: path)
                let serialized = JSONValue.object(job.input).serialized
                #expect((try? JSONValue.parse(serialized)) != nil, "\(text) → \(serialized)")
            } catch let error as JobError {
                #expect(error.message.contains(path), "\(error.message)")
            }
        }
    }
}
