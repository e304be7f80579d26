import BGSyncStore
import Foundation

/// A request as the routes see it: method, decoded path segments, query, headers, body.
struct CouchRequest: Sendable {
    /// `GET`, `PUT`, … (`HEAD` is answered as `GET` without a body).
    var method: String
    /// The path as sent, percent-encoded.
    var rawPath: String
    /// The path split on `/` and percent-decoded (empty segments dropped).
    var segments: [String]
    /// The raw query string.
    var rawQuery: String?
    /// Query parameters, decoded, in order.
    var query: [(name: String, value: String)]
    /// Header name (lowercase) → value.
    var headers: [String: String]
    /// The body bytes.
    var body: [UInt8]
    /// The authenticated user, if any.
    var user: String?

    init(method: String, rawPath: String, rawQuery: String?, headers: [String: String], body: [UInt8]) {
        self.method = method
        self.rawPath = rawPath
        self.rawQuery = rawQuery
        self.headers = headers
        self.body = body
        segments = rawPath.split(separator: "/", omittingEmptySubsequences: true).map {
            String($0).removingPercentEncoding ?? String($0)
        }
        query = Self.parseQuery(rawQuery)
    }

    static func parseQuery(_ raw: String?) -> [(name: String, value: String)] {
        guard let raw, !raw.isEmpty else { return [] }
        return raw.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                let spaced = text.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }

    /// The last value of query parameter `name`.
    func parameter(_ name: String) -> String? {
        query.last(where: { $0.name == name })?.value
    }

    /// `name=true` (CouchDB accepts only `true` as true).
    func flag(_ name: String) -> Bool {
        parameter(name) == "true"
    }

    /// A non-negative integer parameter; 400 when it is not one.
    func integer(_ name: String) throws(FixtureError) -> Int? {
        guard let text = parameter(name) else { return nil }
        guard let value = Int(text), value >= 0 else {
            throw FixtureError(400, "query_parse_error", "Invalid value for integer: \"\(text)\"")
        }
        return value
    }

    /// A JSON-valued parameter (`open_revs`, `atts_since`, `startkey`, …); 400 when malformed.
    func jsonParameter(_ name: String) throws(FixtureError) -> JSONValue? {
        guard let text = parameter(name) else { return nil }
        do {
            return try JSONValue.parse(text)
        } catch {
            throw FixtureError(400, "bad_request", "Invalid JSON in the \(name) parameter")
        }
    }

    /// The body as a JSON object; 400 `invalid UTF-8 JSON` when it is not JSON, 400
    /// `Request body must be a JSON object` when it is not an object.
    func jsonObjectBody() throws(FixtureError) -> JSONObject {
        let value = try JSONText.parse(body)
        guard let object = value.objectValue else {
            throw FixtureError(400, "bad_request", "Request body must be a JSON object")
        }
        return object
    }

    var contentType: String {
        headers["content-type"]?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
    }
}

extension JSONValue {
    /// A list of revision ids; 400 when an element is not one.
    func revisionList(field: String) throws(FixtureError) -> [RevisionID] {
        guard let array = arrayValue else {
            throw FixtureError(400, "bad_request", "\(field) must be a JSON array of revision ids")
        }
        var revs: [RevisionID] = []
        for element in array {
            guard let text = element.stringValue, let rev = try? RevisionID(parsing: text) else {
                throw FixtureError(400, "bad_request", "Invalid rev format")
            }
            revs.append(rev)
        }
        return revs
    }
}
