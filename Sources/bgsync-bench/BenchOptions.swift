import ArgumentParser
import Foundation

/// The command line of `bgsync-bench`, validated once.
struct BenchOptions: ParsableArguments {
    @Option(help: "Documents in the database for the initial pull and push (N).")
    var docs: Int = 100_000

    @Option(help: "Approximate size of each document's JSON in bytes (at least \(DocumentBodies.minimumSize)).")
    var docSize: Int = 1000

    @Option(help: "Runs of each timed scenario; the median is reported with min and max.")
    var runs: Int = 3

    @Option(help: "Runs of each no-op scenario.")
    var noopRuns: Int = 5

    @Option(help: "One extra initial pull at scale×N for the memory-flatness figure; 1 skips it.")
    var scale: Int = 10

    @Option(help: "A CouchDB-protocol server to use instead of the in-process fixture server (http://host:port).")
    var server: String?

    @Option(help: "User name for --server.")
    var user: String?

    @Option(help: "A file (mode 0600) holding the password for --server.")
    var passwordFile: String?

    @Flag(help: ArgumentHelp("Set up the in-process fixture server over HTTP, as for --server (tests that path; requests as bgsync reports them).", visibility: .hidden))
    var setupOverHttp = false

    @Option(help: "The bgsync binary to time (default: the one next to this executable).")
    var bgsync: String?

    @Option(help: "Directory for the local stores and job files (default: a new directory under $TMPDIR, removed at the end).")
    var workDir: String?

    @Flag(help: "Print one JSON object instead of the table.")
    var json = false

    @Flag(help: "No progress messages on stderr.")
    var quiet = false

    @Flag(help: "Only the tree-scaling scenario: time storing K conflicting leaves and H-revision histories into one document, in this process (no server, no bgsync child).")
    var trees = false

    @Flag(help: "Only the large-payload scenario: bgsync pushes, then pulls, one document with a big attachment and one big JSON document; peak RSS of each run against DESIGN §8.")
    var payloads = false

    @Option(help: ArgumentHelp("With --payloads: the attachment's size in MiB.", valueName: "MiB"))
    var attachmentMib = 1024

    @Option(help: ArgumentHelp("With --payloads: the JSON document's size in MB.", valueName: "MB"))
    var jsonMb = 50

    @Option(help: ArgumentHelp("With --trees: the leaf counts K, comma-separated.", valueName: "K,K,…"))
    var treeLeaves: String = "1000,2000,5000,10000"

    @Option(help: ArgumentHelp("With --trees: the history lengths H, comma-separated.", valueName: "H,H,…"))
    var treeHistory: String = "250,500,1000"

    /// `--tree-leaves` as numbers.
    var treeLeafCounts: [Int] { Self.sizes(treeLeaves) ?? [] }
    /// `--tree-history` as numbers.
    var treeHistoryLengths: [Int] { Self.sizes(treeHistory) ?? [] }

    static func sizes(_ text: String) -> [Int]? {
        let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? 0) >= 1 && ($0 ?? 0) <= 1_000_000 }) else { return nil }
        return parts.compactMap { $0 }
    }

    mutating func validate() throws {
        if Self.sizes(treeLeaves) == nil || Self.sizes(treeHistory) == nil {
            throw ValidationError("--tree-leaves and --tree-history take comma-separated sizes from 1 to 1000000 (got \(treeLeaves) and \(treeHistory))")
        }
        if docs < 100 { throw ValidationError("--docs must be at least 100 (got \(docs)): the incremental scenario changes 1 % of them") }
        if docSize < DocumentBodies.minimumSize || docSize > 1_000_000 {
            throw ValidationError("--doc-size must be between \(DocumentBodies.minimumSize) and 1000000 bytes (got \(docSize))")
        }
        if runs < 1 || runs > 100 { throw ValidationError("--runs must be between 1 and 100 (got \(runs))") }
        if noopRuns < 1 || noopRuns > 1000 { throw ValidationError("--noop-runs must be between 1 and 1000 (got \(noopRuns))") }
        if scale < 1 || scale > 100 { throw ValidationError("--scale must be between 1 and 100 (got \(scale)); 1 skips the scale×N pull") }
        if setupOverHttp && server != nil {
            throw ValidationError("--setup-over-http applies to the in-process fixture server only, not with --server")
        }
        if let server {
            guard let url = URL(string: server), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
                throw ValidationError("--server must be an http(s)://host[:port] URL (got \(server))")
            }
            if url.user != nil || url.password != nil {
                throw ValidationError("--server must not carry credentials: use --user and --password-file")
            }
            if (user == nil) != (passwordFile == nil) {
                throw ValidationError("--user and --password-file go together")
            }
        } else if user != nil || passwordFile != nil {
            throw ValidationError("--user and --password-file only apply with --server (the fixture server needs no credentials)")
        }
    }
}
