/// A complete answer before it goes on the wire (where a fault may still mangle it).
struct FixtureResponse: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    init(status: Int, headers: [(String, String)] = [], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON answer; CouchDB ends its JSON bodies with a newline.
    static func json(_ status: Int, _ text: String, headers: [(String, String)] = []) -> FixtureResponse {
        FixtureResponse(status: status, headers: headers, body: Array((text + "\n").utf8))
    }

    static func error(_ error: FixtureError, headers: [(String, String)] = []) -> FixtureResponse {
        json(error.status, error.json, headers: headers)
    }

    static let ok = json(200, #"{"ok":true}"#)

    /// The reason phrases CouchDB (mochiweb) sends. NIO replaces the phrase of a status code it
    /// knows with the standard one, so on the wire these only show for unusual codes.
    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Object Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 409: "Conflict"
        case 412: "Precondition Failed"
        case 413: "Request Entity Too Large"
        case 415: "Unsupported Media Type"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: "Status \(status)"
        }
    }

    /// CouchDB's `error` name for a status, used for faults given no body.
    static func errorName(_ status: Int) -> String {
        switch status {
        case 400: "bad_request"
        case 401: "unauthorized"
        case 403: "forbidden"
        case 404: "not_found"
        case 405: "method_not_allowed"
        case 409: "conflict"
        case 412: "precondition_failed"
        case 413: "too_large"
        case 429: "too_many_requests"
        case 500: "internal_server_error"
        case 502: "bad_gateway"
        case 503: "service_unavailable"
        case 504: "gateway_timeout"
        default: "error"
        }
    }
}
