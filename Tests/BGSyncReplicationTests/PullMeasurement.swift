import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// A one-off measurement, not a test of speed: pulls N documents from the fixture server with a
/// `bgsync` binary under `/usr/bin/time -v` and prints wall time and peak RSS. Runs only when
/// `BGSYNC_MEASURE_BINARY` names the binary (e.g. a release build); `BGSYNC_MEASURE_DOCS` sets N.
@Suite("Pull measurement")
struct PullMeasurement {
    static let binary = ProcessInfo.processInfo.environment["BGSYNC_MEASURE_BINARY"]

    @Test("pull N documents from the fixture server", .enabled(if: binary != nil))
    func measure() async throws {
        let count = Int(ProcessInfo.processInfo.environment["BGSYNC_MEASURE_DOCS"] ?? "") ?? 100_000
        try await withFixtureServer { server in
            let remote = try server.createDatabase("bench")
            let body = #"{"title":"\#(String(repeating: "x", count: 900))","n":1.0,"tags":["a","b"]}"#
            for start in stride(from: 0, to: count, by: 5000) {
                try remote.write { tx in
                    for i in start..<min(start + 5000, count) { try tx.put(id: String(format: "doc%07d", i), json: body) }
                }
            }
            try await withTemporaryPath { dir in
                let arguments = ["-v", try #require(Self.binary), "sync", dir + "/l.sqlite", server.url("bench"), "--pull-only", "--json"]
                let ended = try await TestProcess("/usr/bin/time", arguments).finish()
                let report = ended.stderr.split(separator: "\n").filter { $0.contains("Elapsed") || $0.contains("Maximum resident") }
                print("measurement: \(count) documents: \(ended.stdout) \(report)")
                #expect(ended.status == 0)
            }
        }
    }
}
