@testable import BGSyncJobs
@testable import BGSyncReplication
import Foundation
import Testing

@Suite("Metrics textfile")
struct MetricsTextfileTests {
    func directory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bgsync-metrics-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func synced() -> MetricsTextfile.Sample {
        var pull = DirectionResult(direction: .pull)
        pull.docsWritten = 7
        pull.docsRead = 8
        pull.docWriteFailures = 1
        var push = DirectionResult(direction: .push)
        push.docsWritten = 2
        var result = SyncResult(pull: pull, push: push, httpRequests: 4)
        result.httpBytesReceived = 1234
        result.httpBytesSent = 56
        result.conflicts.resolved = 3
        result.conflicts.unresolved = 1
        return MetricsTextfile.Sample(tag: "no\"tes", outcome: .synced, runAt: Date(timeIntervalSince1970: 1_700_000_000.5),
                                      lastSuccess: Date(timeIntervalSince1970: 1_700_000_001), duration: 2.25,
                                      consecutiveFailures: 0, result: result)
    }

    @Test("every family has HELP and TYPE gauge; samples carry tag (escaped) and direction labels")
    func render() {
        let text = MetricsTextfile.render(synced())
        let lines = text.split(separator: "\n").map(String.init)
        for family in MetricsTextfile.families {
            #expect(lines.contains("# TYPE \(family.name) gauge"))
            #expect(lines.contains { $0.hasPrefix("# HELP \(family.name) ") })
        }
        #expect(lines.contains(#"bgsync_last_run_timestamp_seconds{tag="no\"tes"} 1700000000.500"#))
        #expect(lines.contains(#"bgsync_last_success_timestamp_seconds{tag="no\"tes"} 1700000001.000"#))
        #expect(lines.contains(#"bgsync_last_run_duration_seconds{tag="no\"tes"} 2.250"#))
        #expect(lines.contains(#"bgsync_last_run_outcome{tag="no\"tes",outcome="synced"} 1"#))
        #expect(lines.contains(#"bgsync_last_run_outcome{tag="no\"tes",outcome="interrupted"} 0"#))
        #expect(lines.contains(#"bgsync_documents_written{tag="no\"tes",direction="pull"} 7"#))
        #expect(lines.contains(#"bgsync_documents_read{tag="no\"tes",direction="pull"} 8"#))
        #expect(lines.contains(#"bgsync_doc_write_failures{tag="no\"tes",direction="pull"} 1"#))
        #expect(lines.contains(#"bgsync_documents_written{tag="no\"tes",direction="push"} 2"#))
        #expect(lines.contains(#"bgsync_bytes{tag="no\"tes",direction="pull"} 1234"#))
        #expect(lines.contains(#"bgsync_bytes{tag="no\"tes",direction="push"} 56"#))
        #expect(lines.contains(#"bgsync_consecutive_failures{tag="no\"tes"} 0"#))
        #expect(lines.contains(#"bgsync_conflicts_resolved{tag="no\"tes"} 3"#))
        #expect(lines.contains(#"bgsync_conflicts_unresolved{tag="no\"tes"} 1"#))
        #expect(text.hasSuffix("\n"))
    }

    @Test("a skip updates outcome and last run, keeps the previous run's samples; a failure keeps last success")
    func skipAndFailure() throws {
        let previous = MetricsTextfile.render(synced())
        var skip = synced()
        skip.outcome = .skipped
        skip.runAt = Date(timeIntervalSince1970: 1_700_000_100)
        skip.result = nil
        skip.duration = 0
        let text = MetricsTextfile.render(skip, previous: previous)
        #expect(text.contains(#"bgsync_last_run_outcome{tag="no\"tes",outcome="skipped"} 1"#))
        #expect(text.contains(#"bgsync_last_run_outcome{tag="no\"tes",outcome="synced"} 0"#))
        #expect(text.contains(#"bgsync_last_run_timestamp_seconds{tag="no\"tes"} 1700000100.000"#))
        #expect(text.contains(#"bgsync_last_run_duration_seconds{tag="no\"tes"} 2.250"#))
        #expect(text.contains(#"bgsync_documents_written{tag="no\"tes",direction="pull"} 7"#))
        #expect(text.contains(#"bgsync_conflicts_resolved{tag="no\"tes"} 3"#))

        var failure = synced()
        failure.outcome = .failed
        failure.result = nil
        failure.consecutiveFailures = 3
        let failed = MetricsTextfile.render(failure, previous: previous)
        #expect(failed.contains(#"bgsync_last_success_timestamp_seconds{tag="no\"tes"} 1700000001.000"#))
        #expect(failed.contains(#"bgsync_consecutive_failures{tag="no\"tes"} 3"#))
        #expect(failed.contains(#"bgsync_last_run_outcome{tag="no\"tes",outcome="failed"} 1"#))
        #expect(!failed.contains("bgsync_documents_written{"))
    }

    @Test("the file is replaced by rename (new inode), no temporary file is left; an unwritable directory throws")
    func atomicWrite() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/bgsync-notes.prom"
        try MetricsTextfile.write(synced(), to: path)
        var first = stat()
        #expect(stat(path, &first) == 0)
        try MetricsTextfile.write(synced(), to: path)
        var second = stat()
        #expect(stat(path, &second) == 0)
        #expect(first.st_ino != second.st_ino)
        #expect(second.st_mode & 0o777 == 0o644)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["bgsync-notes.prom"])
        #expect(throws: MetricsError.self) { try MetricsTextfile.write(synced(), to: dir + "/missing/x.prom") }
    }

    @Test("[metrics] textfile is read from the job file, relative to it; unknown keys are refused")
    func jobFile() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let job = dir + "/notes.toml"
        try Data("factory = \"x\"\n[metrics]\ntextfile = \"/var/lib/node_exporter/textfile/bgsync-notes.prom\"\n".utf8).write(to: URL(fileURLWithPath: job))
        #expect(try JobFile.load(path: job).metricsTextfile == "/var/lib/node_exporter/textfile/bgsync-notes.prom")
        try Data("factory = \"x\"\n[metrics]\ntextfile = \"m/bgsync.prom\"\n".utf8).write(to: URL(fileURLWithPath: job))
        #expect(try JobFile.load(path: job).metricsTextfile == dir + "/m/bgsync.prom")
        try Data("factory = \"x\"\n".utf8).write(to: URL(fileURLWithPath: job))
        #expect(try JobFile.load(path: job).metricsTextfile == nil)
        try Data("factory = \"x\"\n[metrics]\ntextfil = \"a.prom\"\n".utf8).write(to: URL(fileURLWithPath: job))
        #expect(throws: JobError.self) { try JobFile.load(path: job) }
    }
}
