/// One request the fixture server received, as ``FixtureServer/requests()`` lists it.
public struct RecordedRequest: Sendable, Equatable, CustomStringConvertible {
    /// The HTTP method, e.g. `GET`.
    public var method: String
    /// The path as sent (still percent-encoded), without the query.
    public var path: String
    /// The query string as sent (without `?`), or nil when there was none.
    public var query: String?
    /// The status sent, or nil when no response head was sent (a reset connection) or the
    /// request is still being answered.
    public var status: Int?
    /// The number of request body bytes the server read.
    public var bodyBytes: Int
    /// A description of the fault applied to this request, if one was.
    public var fault: String?

    /// Creates a record.
    public init(method: String, path: String, query: String?, status: Int?, bodyBytes: Int, fault: String?) {
        self.method = method
        self.path = path
        self.query = query
        self.status = status
        self.bodyBytes = bodyBytes
        self.fault = fault
    }

    /// `GET /db/_changes?since=0 → 200`.
    public var description: String {
        var text = "\(method) \(path)"
        if let query { text += "?\(query)" }
        text += " → " + (status.map(String.init) ?? "no response")
        if let fault { text += " [\(fault)]" }
        return text
    }
}

/// The request log: entries in arrival order, each completed when its answer is known.
struct RequestLog {
    private(set) var entries: [(id: Int, request: RecordedRequest)] = []
    private var nextID = 0

    mutating func begin(_ request: RecordedRequest) -> Int {
        nextID += 1
        entries.append((nextID, request))
        return nextID
    }

    mutating func complete(_ id: Int, update: (inout RecordedRequest) -> Void) {
        guard let index = entries.lastIndex(where: { $0.id == id }) else { return }
        update(&entries[index].request)
    }

    mutating func reset() {
        entries.removeAll()
    }
}
