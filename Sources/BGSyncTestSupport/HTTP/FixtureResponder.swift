import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The request context: Hummingbird's core storage plus the connection, which connection-level
/// faults close.
struct FixtureContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = CoreRequestContextStorage(source: source)
        channel = source.channel
    }
}

/// Thrown to abandon a connection that a fault closed; Hummingbird then drops the connection.
struct FixtureConnectionClosed: Error {}

/// Answers every request: records it, applies a matching fault, checks size and credentials,
/// and hands it to ``Routes``.
struct FixtureResponder: HTTPResponder {
    let core: FixtureCore

    func respond(to request: Request, context: FixtureContext) async throws -> Response {
        let method = request.method.rawValue
        let rawPath = request.uri.path
        let rawQuery = request.uri.query
        let logID = core.state.withLock {
            $0.log.begin(RecordedRequest(method: method, path: rawPath, query: rawQuery, status: nil, bodyBytes: 0, fault: nil))
        }
        let fault = core.state.withLock { $0.faults.take(method: method, path: rawPath) }

        let headers = Self.headers(of: request)
        let (body, tooLarge) = try await Self.readBody(request, declaredLength: headers["content-length"].flatMap { Int($0) },
                                                       limit: core.configuration.maxRequestBodyBytes)
        core.state.withLock {
            $0.log.complete(logID) {
                $0.bodyBytes = body.count
                $0.fault = fault?.description
            }
        }

        var answer: FixtureResponse
        switch fault?.action {
        case .resetConnection:
            await Self.reset(context.channel)
            throw FixtureConnectionClosed()
        case .endlessBody(let prefix, let filler, let interval):
            core.state.withLock { $0.log.complete(logID) { $0.status = 200 } }
            return Self.endless(prefix: prefix, filler: filler, interval: interval)
        case .status(let code, let faultBody, let extraHeaders):
            let text = faultBody ?? FixtureError(code, FixtureResponse.errorName(code), "fixture fault: status \(code)").json
            answer = FixtureResponse(status: code, headers: extraHeaders, body: Array((text + "\n").utf8))
        case .bytes(let code, let body):
            answer = FixtureResponse(status: code, headers: [], body: body)
        default:
            if case .delay(let seconds) = fault?.action {
                try? await Task.sleep(nanoseconds: UInt64(max(0, seconds) * 1_000_000_000))
            }
            if case .perform(let body) = fault?.action { body() }
            if case .deleteDatabase(let name) = fault?.action,
               let target = name ?? rawPath.split(separator: "/").first.map({ String($0).removingPercentEncoding ?? String($0) }) {
                core.deleteDatabase(target)
            }
            if tooLarge {
                answer = .error(FixtureError(413, "too_large", "the request entity is too large"))
            } else {
                let couchRequest = CouchRequest(
                    method: method == "HEAD" ? "GET" : method, rawPath: rawPath, rawQuery: rawQuery,
                    headers: headers, body: body)
                answer = Routes(core: core).handle(couchRequest)
            }
        }
        let status = answer.status
        core.state.withLock { $0.log.complete(logID) { $0.status = status } }

        switch fault?.action {
        case .truncateBody(let afterBytes):
            return Self.truncated(answer, afterBytes: afterBytes, channel: context.channel)
        case .malformedJSON:
            answer.body = Self.cutInHalf(answer.body)
        default:
            break
        }
        return Self.response(answer, head: method == "HEAD")
    }

    /// Header name (lowercase) → value; repeated headers joined as HTTP allows.
    static func headers(of request: Request) -> [String: String] {
        var headers: [String: String] = [:]
        for field in request.headers {
            let name = field.name.canonicalName
            if let existing = headers[name] {
                headers[name] = existing + (name == "cookie" ? "; " : ", ") + field.value
            } else {
                headers[name] = field.value
            }
        }
        // HTTP/1 `Host` arrives as the request's authority.
        if let authority = request.head.authority { headers["host"] = authority }
        return headers
    }

    /// The body, read up to `limit` (+1) bytes; `tooLarge` when the declared or read length
    /// exceeds it (an oversized declared body is not read at all).
    static func readBody(_ request: Request, declaredLength: Int?, limit: Int?) async throws -> (body: [UInt8], tooLarge: Bool) {
        if let limit, let declaredLength, declaredLength > limit { return ([], true) }
        var body: [UInt8] = []
        for try await buffer in request.body {
            body.append(contentsOf: buffer.readableBytesView)
            if let limit, body.count > limit { return (body, true) }
        }
        return (body, false)
    }

    /// The Hummingbird response for an answer, with CouchDB's headers.
    static func response(_ answer: FixtureResponse, head: Bool = false) -> Response {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        fields[.cacheControl] = "must-revalidate"
        for (name, value) in answer.headers {
            guard let fieldName = HTTPField.Name(name) else { continue }
            fields[fieldName] = value
        }
        fields[.contentLength] = String(answer.body.count)
        let status = HTTPResponse.Status(code: answer.status, reasonPhrase: FixtureResponse.reasonPhrase(answer.status))
        if head {
            return Response(status: status, headers: fields, body: ResponseBody())
        }
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
    }

    /// The full head (with the full `Content-Length`), part of the body, then a closed connection.
    static func truncated(_ answer: FixtureResponse, afterBytes: Int, channel: any Channel) -> Response {
        let full = answer.body
        let sent = min(afterBytes, max(0, full.count - 1))
        var response = response(answer)
        response.body = ResponseBody { writer in
            if sent > 0 {
                try await writer.write(ByteBuffer(bytes: full[..<sent]))
            }
            // Let the partial body reach the socket before the connection closes.
            try? await Task.sleep(nanoseconds: 50_000_000)
            try? await channel.close()
            throw FixtureConnectionClosed()
        }
        response.headers[.contentLength] = String(full.count)
        return response
    }

    /// 200 with a chunked body that never ends: `prefix`, then `filler` in 64 KB chunks (or
    /// one `filler` per `interval` seconds) until the client goes away (the write fails) or the
    /// server stops (the task is cancelled).
    static func endless(prefix: String, filler: String, interval: Double) -> Response {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        let unit = filler.isEmpty ? " " : filler
        let chunk = ByteBuffer(string: interval > 0 ? unit : String(repeating: unit, count: max(1, 65_536 / unit.utf8.count)))
        return Response(status: .ok, headers: fields, body: ResponseBody { writer in
            try await writer.write(ByteBuffer(string: prefix))
            while !Task.isCancelled {
                if interval > 0 { try await Task.sleep(nanoseconds: UInt64(interval * 1_000_000_000)) }
                try await writer.write(chunk)
            }
            throw FixtureConnectionClosed()
        })
    }

    /// The first half of a JSON body (objects and arrays have no valid proper prefix).
    static func cutInHalf(_ body: [UInt8]) -> [UInt8] {
        var trimmed = body
        while let last = trimmed.last, last == 0x0A || last == 0x0D || last == 0x20 || last == 0x09 { trimmed.removeLast() }
        guard trimmed.count > 1 else { return Array("{".utf8) }
        return Array(trimmed[..<max(1, trimmed.count / 2)])
    }

    /// Closes the connection with a TCP reset: `SO_LINGER` 0, then close.
    static func reset(_ channel: any Channel) async {
        if let provider = channel as? any SocketOptionProvider {
            _ = try? await provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
        }
        try? await channel.close()
    }
}
