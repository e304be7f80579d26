import BGSyncStore
import Foundation

/// `bgsync-bench --trees`: how the cost of storing into one document grows with its revision
/// tree (DESIGN §8, "10,000 conflicting leaves or a 1,000-revision history store in near-linear
/// time"). Runs in this process against fresh stores in the work directory; no server, no
/// `bgsync` child. Prints figures, asserts nothing.
struct TreeScaling {
    /// Writes per transaction in the leaf and edit scenarios (a replicator's batch).
    static let batch = 100

    /// One measured size of one scenario.
    struct Figure: Sendable {
        var size: Int
        var seconds: Double
        /// Microseconds per leaf or revision.
        var microsecondsPerElement: Double { seconds * 1_000_000 / Double(max(size, 1)) }
    }

    /// The figures of one scenario, smallest size first.
    struct Series: Sendable {
        var key: String
        var title: String
        var figures: [Figure]
        /// Time per element at the largest size / at the smallest: about 1 when the cost per
        /// element does not grow with the tree, about largest/smallest when it grows linearly.
        var ratio: Double? {
            guard let first = figures.first, let last = figures.last, figures.count > 1, first.microsecondsPerElement > 0 else { return nil }
            return last.microsecondsPerElement / first.microsecondsPerElement
        }
    }

    let workDir: String
    let leafCounts: [Int]
    let historyLengths: [Int]
    /// Runs of each size; the median is reported.
    let runs: Int
    let quiet: Bool

    func run() throws -> [Series] {
        var series = [
            Series(key: "conflicting_leaves", title: "K conflicting leaves, one new_edits=false write each", figures: []),
            Series(key: "history_edits", title: "H-revision history, one normal edit each", figures: []),
            Series(key: "history_one_write", title: "H-revision history, one new_edits=false write with H _revisions", figures: []),
        ]
        for count in leafCounts { series[0].figures.append(try median(count) { try conflictingLeaves(count) }) }
        for length in historyLengths { series[1].figures.append(try median(length) { try historyByEdits(length) }) }
        for length in historyLengths { series[2].figures.append(try median(length) { try historyInOneWrite(length) }) }
        return series
    }

    /// The median of `runs` measurements (at least 5 for the single write, which takes
    /// milliseconds).
    private func median(_ size: Int, _ measure: () throws -> Double) throws -> Figure {
        var times: [Double] = []
        for _ in 0..<runs { times.append(try measure()) }
        return Figure(size: size, seconds: Summary(times)?.median ?? 0)
    }

    private func progress(_ message: String) {
        guard !quiet else { return }
        FileHandle.standardError.write(Data("bgsync-bench: \(message)\n".utf8))
    }

    private func freshStore(_ name: String) throws -> (DocumentStore, String) {
        let path = workDir + "/trees-\(name).sqlite"
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        return (try DocumentStore.open(at: path), path)
    }

    private func remove(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    /// A deterministic 32-hex-digit revision hash.
    static func hash(_ index: Int, salt: UInt64) -> String {
        var state = UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15 ^ salt
        var text = ""
        for _ in 0..<2 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            let hex = String(z, radix: 16)
            text += String(repeating: "0", count: 16 - hex.count) + hex
        }
        return text
    }

    private static func seconds(since start: UInt64) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start) / 1_000_000_000
    }

    /// One document: a root, then `count` leaves `2-…` on it, each parsed from JSON with its
    /// `_revisions` and stored with `saveReplicated` (the pull's path), 100 per transaction.
    private func conflictingLeaves(_ count: Int) throws -> Double {
        progress("trees: \(count) conflicting leaves")
        let (store, path) = try freshStore("leaves-\(count)")
        defer { remove(path) }
        let root = Self.hash(0, salt: 1)
        try store.write { tx in
            _ = try tx.saveReplicated(IncomingDocument(json: Array(#"{"_id":"doc","_rev":"1-\#(root)","_revisions":{"start":1,"ids":["\#(root)"]},"n":0}"#.utf8)))
        }
        let documents = (1...count).map { index in
            let leaf = Self.hash(index, salt: 2)
            return Array(#"{"_id":"doc","_rev":"2-\#(leaf)","_revisions":{"start":2,"ids":["\#(leaf)","\#(root)"]},"n":\#(index)}"#.utf8)
        }
        let start = DispatchTime.now().uptimeNanoseconds
        for chunk in stride(from: 0, to: documents.count, by: Self.batch) {
            try store.write { tx in
                for json in documents[chunk..<min(chunk + Self.batch, documents.count)] {
                    _ = try tx.saveReplicated(IncomingDocument(json: json))
                }
            }
        }
        let elapsed = Self.seconds(since: start)
        let leaves = try store.read { try $0.tree(of: "doc")?.leaves.count ?? 0 }
        guard leaves == count else { throw BenchError("trees: expected \(count) leaves, the store has \(leaves)") }
        return elapsed
    }

    /// One document edited `length - 1` times after its creation (`save` with `newEdits`, the
    /// path of `PUT` and `bgsync db put`), 100 edits per transaction.
    private func historyByEdits(_ length: Int) throws -> Double {
        progress("trees: \(length)-revision history by edits")
        let (store, path) = try freshStore("edits-\(length)")
        defer { remove(path) }
        let start = DispatchTime.now().uptimeNanoseconds
        var rev = try store.write { try $0.save(IncomingDocument(json: Array(#"{"_id":"doc","n":0}"#.utf8))) }
        var done = 1
        while done < length {
            let upTo = min(done + Self.batch, length)
            rev = try store.write { tx in
                var current = rev
                for n in done..<upTo {
                    current = try tx.save(IncomingDocument(json: Array(#"{"_id":"doc","_rev":"\#(current)","n":\#(n)}"#.utf8)))
                }
                return current
            }
            done = upTo
        }
        let elapsed = Self.seconds(since: start)
        guard rev.generation == length else { throw BenchError("trees: expected generation \(length), got \(rev)") }
        return elapsed
    }

    /// One document created by one replicated write whose `_revisions` lists `length` ids; the
    /// median of 5 writes, each into a fresh store.
    private func historyInOneWrite(_ length: Int) throws -> Double {
        progress("trees: \(length)-revision history in one write")
        let ids = (0..<length).map { "\"\(Self.hash($0, salt: 3))\"" }.joined(separator: ",")
        let json = Array(#"{"_id":"doc","_rev":"\#(length)-\#(Self.hash(0, salt: 3))","_revisions":{"start":\#(length),"ids":[\#(ids)]},"n":1}"#.utf8)
        var times: [Double] = []
        for run in 0..<5 {
            let (store, path) = try freshStore("one-write-\(length)-\(run)")
            defer { remove(path) }
            let start = DispatchTime.now().uptimeNanoseconds
            try store.write { tx in _ = try tx.saveReplicated(IncomingDocument(json: json)) }
            times.append(Self.seconds(since: start))
            let stored = try store.read { try $0.tree(of: "doc")?.nodes.count ?? 0 }
            guard stored == length else { throw BenchError("trees: expected \(length) revisions, the store has \(stored)") }
        }
        return Summary(times)?.median ?? 0
    }

    // MARK: Output

    static func text(_ series: [Series], commit: String?, loadAverage: (start: String, end: String)) -> String {
        var lines = ["bgsync-bench --trees" + (commit.map { ", commit \($0)" } ?? "") + "; each figure the median of --runs runs"]
        lines.append("load average (1/5/15 min): \(loadAverage.start) at the start, \(loadAverage.end) at the end")
        for item in series {
            lines.append("")
            lines.append(item.title)
            lines.append("  size      seconds   µs/element")
            for figure in item.figures {
                lines.append("  " + pad(String(figure.size), 6) + "  " + pad(String(format: "%.3f", figure.seconds), 9)
                             + "  " + pad(String(format: "%.1f", figure.microsecondsPerElement), 11))
            }
            if let ratio = item.ratio, let first = item.figures.first, let last = item.figures.last {
                lines.append("  µs/element at \(last.size) / at \(first.size): \(String(format: "%.2f", ratio)) (1 = linear, \(String(format: "%.0f", Double(last.size) / Double(first.size))) = quadratic)")
            }
        }
        return lines.joined(separator: "\n")
    }

    static func json(_ series: [Series], commit: String?) -> String {
        let items = series.map { item in
            let figures = item.figures.map {
                #"{"size":\#($0.size),"seconds":\#(String(format: "%.6f", $0.seconds)),"us_per_element":\#(String(format: "%.3f", $0.microsecondsPerElement))}"#
            }.joined(separator: ",")
            let ratio = item.ratio.map { String(format: "%.4f", $0) } ?? "null"
            return #""\#(item.key)":{"figures":[\#(figures)],"ratio_largest_to_smallest":\#(ratio)}"#
        }.joined(separator: ",")
        return #"{"commit":\#(commit.map { "\"\($0)\"" } ?? "null"),\#(items)}"#
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }
}
