/// A misbehaviour the fixture server applies to matching requests, injected with
/// ``FixtureServer/inject(_:)``.
///
/// A fault matches a request by method (any when nil) and path (``PathPattern``; the path as
/// sent, still percent-encoded, without the query). Each fault counts its matching requests on
/// its own: it lets the first `skip` through untouched, then applies to the next `times`, then
/// is used up. At most one fault applies to a request: when several are ready, the earliest
/// injected one (the others stay ready for the next matching request). Faults act before the
/// server checks credentials or the body size; every request, faulted or not, is logged.
///
/// ```swift
/// server.inject(.resetConnection(path: .suffix("/_bulk_docs"), skip: 1))   // the 2nd _bulk_docs
/// server.inject(.tooManyRequests(retryAfter: 1, path: .contains("/_changes"), times: 2))
/// ```
public struct Fault: Sendable, CustomStringConvertible {
    /// Which request paths a fault applies to.
    public struct PathPattern: Sendable, CustomStringConvertible {
        enum Kind: Sendable {
            case any, exact(String), prefix(String), suffix(String), contains(String)
        }
        let kind: Kind

        /// Every path.
        public static let any = PathPattern(kind: .any)
        /// Exactly this path, e.g. `/db`.
        public static func exact(_ path: String) -> PathPattern { PathPattern(kind: .exact(path)) }
        /// Paths starting with this, e.g. `/db/`.
        public static func prefix(_ text: String) -> PathPattern { PathPattern(kind: .prefix(text)) }
        /// Paths ending with this, e.g. `/_bulk_docs`.
        public static func suffix(_ text: String) -> PathPattern { PathPattern(kind: .suffix(text)) }
        /// Paths containing this, e.g. `/_changes`.
        public static func contains(_ text: String) -> PathPattern { PathPattern(kind: .contains(text)) }

        func matches(_ path: String) -> Bool {
            switch kind {
            case .any: true
            case .exact(let text): path == text
            case .prefix(let text): path.hasPrefix(text)
            case .suffix(let text): path.hasSuffix(text)
            case .contains(let text): path.contains(text)
            }
        }

        /// `any`, `exact /db`, `suffix /_bulk_docs`, ….
        public var description: String {
            switch kind {
            case .any: "any path"
            case .exact(let text): "path == \(text)"
            case .prefix(let text): "path prefix \(text)"
            case .suffix(let text): "path suffix \(text)"
            case .contains(let text): "path contains \(text)"
            }
        }
    }

    /// What the server does instead of (or before) answering normally.
    public enum Action: Sendable {
        /// Answer with this status, headers and body (a CouchDB-style error when nil).
        case status(Int, body: String?, headers: [(String, String)])
        /// Answer with this status and these exact body bytes (which need not be UTF-8): a
        /// hand-written response such as a `_bulk_get` holding one document in Latin-1.
        case bytes(Int, body: [UInt8])
        /// Close the TCP connection with a reset (`SO_LINGER` 0) without sending anything.
        case resetConnection
        /// Send the real response head (with the full `Content-Length`), then only the first
        /// bytes of the real body, then close the connection.
        case truncateBody(afterBytes: Int)
        /// Send the real status and headers with the real body cut in half (not valid JSON),
        /// `Content-Length` matching what is sent.
        case malformedJSON
        /// Wait, then answer normally.
        case delay(seconds: Double)
        /// Delete a database (the request's own when nil), then answer normally.
        case deleteDatabase(String?)
        /// Run a closure (change the server's data, expire sessions …), then answer normally.
        case perform(@Sendable () -> Void)
        /// Answer 200 with a body that never ends (chunked, no `Content-Length`): `prefix`,
        /// then `filler` repeated until the client closes the connection — in 64 KB chunks, or
        /// one `filler` every `interval` seconds when `interval` is above 0 (a dripping body).
        case endlessBody(prefix: String, filler: String, interval: Double)
    }

    /// What the fault does.
    public var action: Action
    /// The HTTP method it applies to (`GET`, `POST`, …), any when nil.
    public var method: String?
    /// The paths it applies to.
    public var path: PathPattern
    /// How many matching requests pass untouched before it applies.
    public var skip: Int
    /// How many matching requests it applies to (after `skip`); `Int.max` for all.
    public var times: Int

    /// Creates a fault from parts; the static constructors read better.
    public init(_ action: Action, method: String? = nil, path: PathPattern = .any, skip: Int = 0, times: Int = 1) {
        self.action = action
        self.method = method?.uppercased()
        self.path = path
        self.skip = max(0, skip)
        self.times = max(0, times)
    }

    /// Answer with `code`, `headers` (added to `Content-Type: application/json` and `Server`)
    /// and `body`; when `body` is nil, a CouchDB-style `{"error","reason"}` for that code
    /// (500 `internal_server_error`, 503 `service_unavailable`, 401 `unauthorized`, …).
    public static func status(_ code: Int, body: String? = nil, headers: [(String, String)] = [],
                              method: String? = nil, path: PathPattern = .any, skip: Int = 0, times: Int = 1) -> Fault {
        Fault(.status(code, body: body, headers: headers), method: method, path: path, skip: skip, times: times)
    }

    /// Answers `code` with exactly `body` (any bytes) and `Content-Type: application/json`.
    public static func bytes(_ code: Int, body: [UInt8], method: String? = nil, path: PathPattern = .any,
                             skip: Int = 0, times: Int = 1) -> Fault {
        Fault(.bytes(code, body: body), method: method, path: path, skip: skip, times: times)
    }

    /// 429 `{"error":"too_many_requests","reason":"You have exceeded your request rate limit."}`
    /// with `Retry-After: retryAfter` (seconds).
    public static func tooManyRequests(retryAfter: Int, method: String? = nil, path: PathPattern = .any,
                                       skip: Int = 0, times: Int = 1) -> Fault {
        status(429, body: #"{"error":"too_many_requests","reason":"You have exceeded your request rate limit."}"#,
               headers: [("Retry-After", String(retryAfter))], method: method, path: path, skip: skip, times: times)
    }

    /// Read the request, then close the connection with a TCP reset and no response at all.
    public static func resetConnection(method: String? = nil, path: PathPattern = .any, skip: Int = 0, times: Int = 1) -> Fault {
        Fault(.resetConnection, method: method, path: path, skip: skip, times: times)
    }

    /// Handle the request normally (its effects happen), send the real status and headers with
    /// the full `Content-Length`, then the first `afterBytes` bytes of the body (at most the
    /// body's length − 1, so it is always short), then close the connection.
    public static func truncateBody(afterBytes: Int, method: String? = nil, path: PathPattern = .any,
                                    skip: Int = 0, times: Int = 1) -> Fault {
        Fault(.truncateBody(afterBytes: max(0, afterBytes)), method: method, path: path, skip: skip, times: times)
    }

    /// Handle the request normally (its effects happen), then send the real status and headers
    /// with the first half of the real body (never valid JSON: bodies are objects or arrays)
    /// and a `Content-Length` matching it; the connection stays usable.
    public static func malformedJSON(method: String? = nil, path: PathPattern = .any, skip: Int = 0, times: Int = 1) -> Fault {
        Fault(.malformedJSON, method: method, path: path, skip: skip, times: times)
    }

    /// Wait `seconds`, then handle the request normally.
    public static func delay(seconds: Double, method: String? = nil, path: PathPattern = .any,
                             skip: Int = 0, times: Int = 1) -> Fault {
        Fault(.delay(seconds: seconds), method: method, path: path, skip: skip, times: times)
    }

    /// Delete `database` (by default the one the request addresses) just before handling the
    /// request, which then sees it missing (404 `Database does not exist.`).
    public static func deleteDatabaseBefore(_ database: String? = nil, method: String? = nil, path: PathPattern = .any,
                                            skip: Int = 0, times: Int = 1) -> Fault {
        Fault(.deleteDatabase(database), method: method, path: path, skip: skip, times: times)
    }

    /// Run `body` just before handling the request normally: lets a test change the server's
    /// documents or expire its sessions between two given requests of a run.
    ///
    /// ```swift
    /// server.inject(.before(path: .suffix("/_bulk_docs"), skip: 1) { server.expireSessions() })
    /// ```
    public static func before(method: String? = nil, path: PathPattern = .any, skip: Int = 0, times: Int = 1,
                              _ body: @escaping @Sendable () -> Void) -> Fault {
        Fault(.perform(body), method: method, path: path, skip: skip, times: times)
    }

    /// Answer 200 with a JSON-looking body that never ends: `prefix`, then `filler` repeated
    /// for as long as the client reads (a hostile or broken server) — as fast as possible, or
    /// one `filler` every `interval` seconds when `interval` is above 0. The request itself is
    /// not handled.
    public static func endlessBody(prefix: String = #"{"results":["#, filler: String = #"{"id":"x","changes":[{"rev":"1-a"}]},"#,
                                   interval: Double = 0, method: String? = nil, path: PathPattern = .any,
                                   skip: Int = 0, times: Int = 1) -> Fault {
        Fault(.endlessBody(prefix: prefix, filler: filler, interval: interval), method: method, path: path, skip: skip, times: times)
    }

    func matches(method: String, path: String) -> Bool {
        (self.method == nil || self.method == method) && self.path.matches(path)
    }

    /// `resetConnection (POST, path suffix /_bulk_docs)`.
    public var description: String {
        let name = switch action {
        case .status(let code, _, _): "status \(code)"
        case .bytes(let code, let body): "status \(code) with \(body.count) bytes"
        case .resetConnection: "resetConnection"
        case .truncateBody(let bytes): "truncateBody(afterBytes: \(bytes))"
        case .malformedJSON: "malformedJSON"
        case .delay(let seconds): "delay(\(seconds)s)"
        case .deleteDatabase(let name): "deleteDatabaseBefore(\(name ?? "the request's"))"
        case .perform: "before(…)"
        case .endlessBody: "endlessBody"
        }
        return "\(name) (\(method ?? "any method"), \(path))"
    }
}

/// The injected faults with what is left of their `skip` and `times`.
struct FaultQueue {
    private var pending: [Fault] = []

    mutating func append(_ fault: Fault) {
        if fault.times > 0 { pending.append(fault) }
    }

    mutating func removeAll() {
        pending.removeAll()
    }

    /// The fault that applies to this request, consuming one use of it. Every matching fault
    /// still skipping counts the request as one skipped.
    mutating func take(method: String, path: String) -> Fault? {
        var chosen: Int?
        for index in pending.indices where pending[index].matches(method: method, path: path) {
            if pending[index].skip > 0 {
                pending[index].skip -= 1
            } else if chosen == nil {
                chosen = index
            }
        }
        guard let chosen else { return nil }
        let fault = pending[chosen]
        if pending[chosen].times != .max { pending[chosen].times -= 1 }
        if pending[chosen].times <= 0 { pending.remove(at: chosen) }
        return fault
    }
}
