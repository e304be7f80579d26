import AsyncHTTPClient
import BGSyncStore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// A response with its body collected (bounded by ``HTTPOptions/maxResponseBytes``).
struct CouchResponse: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: [UInt8]
    /// A successful body written to a file instead of ``body`` (``CouchClient/download(_:query:into:expectedLength:)``).
    var spooled: SpoolFile?
    /// For a download: the length the server declared (`Content-Length`) when it is not the
    /// one expected. Nothing was read: asking again would get the same answer.
    var declaredLength: Int?

    /// The body parsed as JSON.
    func json(_ context: String) throws -> JSONValue {
        do {
            return try JSONValue.parse(body)
        } catch {
            throw ReplicationError(.malformedResponse, "\(context): the server sent invalid JSON (\(error))")
        }
    }

    /// CouchDB's `{"error","reason"}`, if the body is one.
    var couchError: (error: String, reason: String)? {
        guard let object = try? JSONValue.parse(body).objectValue, let error = object["error"]?.stringValue else { return nil }
        return (error, object["reason"]?.stringValue ?? "")
    }
}

/// HTTP access to one CouchDB database: URLs, authentication (Basic, cookie session with one
/// renewal, bearer), TLS options, and retries with exponential backoff and jitter for
/// connection errors, timeouts, 408, 429 (honouring `Retry-After`) and 5xx.
final class CouchClient: Sendable {
    let url: URLComponentsLite
    let options: HTTPOptions
    let logger: Logger
    private let client: HTTPClient
    private let state = Mutex(State())

    struct State {
        var cookie: String?
        var bearer: String?
        var requests = 0
        var bytesReceived = 0
        var bytesSent = 0
    }

    init(url: URLComponentsLite, options: HTTPOptions, logger: Logger) throws {
        self.url = url
        self.options = options
        self.logger = logger
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile = options.caFile {
            // Read now, so that a missing or broken file is a configuration error, not a
            // connection failure retried until it counts as "unreachable".
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            } catch {
                throw ReplicationError.configuration("TLS CA file \(caFile) (tls.ca_file, --ca-file): cannot read PEM certificates from it (\(error))")
            }
        }
        if let pair = options.clientCertificate {
            do {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(pair.certificateFile).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: pair.keyFile, format: .pem))
            } catch {
                throw ReplicationError.configuration("TLS client certificate \(pair.certificateFile) / key \(pair.keyFile): \(error)")
            }
        }
        if options.insecure { tls.certificateVerification = .none }
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls,
            redirectConfiguration: .disallow,
            timeout: .init(connect: Self.timeAmount(options.connectTimeout),
                           read: Self.timeAmount(min(options.stallTimeout, options.requestTimeout))))
        configuration.httpVersion = .http1Only
        // A failed connection attempt fails the request at once; `send` retries it with its
        // own backoff. (Left on, the pool retries a refused connection quietly until the
        // connect timeout, for every attempt.)
        configuration.connectionPool.retryConnectionEstablishment = false
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        // Credentials in the URL are used as Basic auth when no other auth is configured.
        if case .none = options.auth, let user = url.user, let password = url.password {
            basicFromURL = Credentials(user: user, password: password)
        } else {
            basicFromURL = nil
        }
    }

    struct Credentials: Sendable {
        var user: String
        var password: String
    }

    private let basicFromURL: Credentials?

    /// Closes connections.
    func shutdown() async {
        try? await client.shutdown()
    }

    /// Requests made so far (including retries).
    var requestCount: Int { state.withLock { $0.requests } }
    /// Bytes received and sent in bodies.
    var bytes: (received: Int, sent: Int) { state.withLock { ($0.bytesReceived, $0.bytesSent) } }

    /// The database URL plus `path` (starting with `/` or empty) and a query.
    func address(_ path: String, query: [(String, String)] = []) -> String {
        var address = url.origin + url.path + path
        if !query.isEmpty {
            address += "?" + query.map { "\(Self.encodeQuery($0.0))=\(Self.encodeQuery($0.1))" }.joined(separator: "&")
        }
        return address
    }

    static let queryAllowed: CharacterSet = {
        var set = CharacterSet.alphanumerics
        set.insert(charactersIn: "-._~")
        return set
    }()

    static func encodeQuery(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: queryAllowed) ?? text
    }

    /// A document id as a path segment: percent-encoded, keeping the slash of `_design/` and
    /// `_local/`.
    static func documentPath(_ id: String) -> String {
        for prefix in ["_design/", "_local/"] where id.hasPrefix(prefix) {
            return "/" + prefix + encodeQuery(String(id.dropFirst(prefix.count)))
        }
        return "/" + encodeQuery(id)
    }

    /// Sends one request, retrying transient failures; returns any response that is not
    /// retried (the caller judges 4xx statuses).
    ///
    /// The body is read up to ``HTTPOptions/maxMetadataResponseBytes``, or
    /// ``HTTPOptions/maxResponseBytes`` when `documents` is true (`_bulk_get`, `open_revs`),
    /// and must arrive whole within ``HTTPOptions/requestTimeout``: a server cannot hold bgsync
    /// with an endless or dripping body.
    func send(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: [UInt8]? = nil,
              root: Bool = false, documents: Bool = false) async throws -> CouchResponse {
        try await perform(method, path, query: query, body: body.map { .json(ByteBuffer(bytes: $0)) }, root: root, documents: documents, spoolTo: nil)
    }

    /// ``send(_:_:query:body:root:documents:)`` with a JSON body already in a buffer (a batch of
    /// documents, not copied again).
    func send(_ method: HTTPMethod, _ path: String, buffer: ByteBuffer) async throws -> CouchResponse {
        try await perform(method, path, query: [], body: .json(buffer), root: false, documents: false, spoolTo: nil)
    }

    /// `GET` whose successful body (an attachment's data) goes to a new file in `directory`,
    /// one piece in memory at a time; other responses are collected as by ``send``. The body
    /// must be `expectedLength` bytes long, and has ``HTTPOptions/requestTimeout`` plus one
    /// second per megabyte to arrive.
    func download(_ path: String, query: [(String, String)], into directory: String, expectedLength: Int) async throws -> CouchResponse {
        try await perform(.GET, path, query: query, body: nil, root: false, documents: false,
                          spoolTo: (directory, expectedLength))
    }

    /// Sends `body` (for example a ``MultipartRelated`` document), read anew for each attempt;
    /// it has ``HTTPOptions/requestTimeout`` plus one second per megabyte to go.
    func upload(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: MultipartRelated) async throws -> CouchResponse {
        try await perform(method, path, query: query, body: .multipart(body), root: false, documents: false, spoolTo: nil)
    }

    /// What a request sends.
    enum RequestBody {
        case json(ByteBuffer)
        case multipart(MultipartRelated)

        var count: Int {
            switch self {
            case .json(let buffer): buffer.readableBytes
            case .multipart(let body): body.length
            }
        }
    }

    private func perform(_ method: HTTPMethod, _ path: String, query: [(String, String)], body: RequestBody?,
                         root: Bool, documents: Bool, spoolTo spool: (directory: String, length: Int)?) async throws -> CouchResponse {
        let target = root ? url.origin + path : address(path, query: query)
        let limit = documents ? options.maxResponseBytes : min(options.maxMetadataResponseBytes, options.maxResponseBytes)
        let description = "\(method.rawValue) \(url.origin)\(root ? path : url.path + path)"
        // Large transfers get time for their size on top: at least 1 MB/s.
        let streamed = max(body.map { if case .multipart = $0 { $0.count } else { 0 } } ?? 0, spool?.length ?? 0)
        let timeout = Self.timeAmount(options.requestTimeout + Double(streamed) / 1_000_000)
        let firstAttempt = ContinuousClock.now
        var attempt = 0
        var renewedAuth = false
        while true {
            var request = HTTPClientRequest(url: target)
            request.method = method
            request.headers.add(name: "Accept", value: "application/json")
            request.headers.add(name: "User-Agent", value: "bgsync")
            for header in options.headers { request.headers.add(name: header.name, value: header.value) }
            try await authorize(&request)
            switch body {
            case .json(let buffer)?:
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(buffer)
            case .multipart(let multipart)?:
                request.headers.add(name: "Content-Type", value: multipart.contentType)
                request.body = .stream(multipart, length: .known(Int64(multipart.length)))
            case nil:
                break
            }
            let outcome: Result<CouchResponse, any Error>
            do {
                let deadline = NIODeadline.now() + timeout
                let response = try await client.execute(request, timeout: timeout, logger: logger)
                let declaredLength = response.headers.first(name: "Content-Length").flatMap { Int($0) }
                if let spool, (200...299).contains(response.status.code), let declaredLength, declaredLength != spool.length {
                    // Not a transfer that broke off: the server says the data has another length.
                    outcome = .success(CouchResponse(status: Int(response.status.code), headers: response.headers, body: [],
                                                     declaredLength: declaredLength))
                } else if let spool, (200...299).contains(response.status.code) {
                    let file = try await Self.spool(response.body, expected: spool.length, directory: spool.directory, deadline: deadline)
                    outcome = .success(CouchResponse(status: Int(response.status.code), headers: response.headers, body: [], spooled: file))
                } else {
                    let collected = try await Self.collect(response.body, declaredLength: declaredLength, limit: limit, deadline: deadline)
                    outcome = .success(CouchResponse(status: Int(response.status.code), headers: response.headers, body: collected))
                }
            } catch is ResponseTooLarge {
                throw ReplicationError(.malformedResponse, "\(description): the response is larger than \(ByteSize.format(limit)); bgsync refuses it\(documents ? "" : " (a smaller batch_size gives smaller responses)")")
            } catch let error as StoreError {
                throw ReplicationError(.localStore, "\(description): \(error.message)")
            } catch {
                outcome = .failure(error)
            }
            state.withLock {
                $0.requests += 1
                $0.bytesSent += body?.count ?? 0
                if case .success(let response) = outcome { $0.bytesReceived += response.spooled?.length ?? response.body.count }
            }
            // A stopped run (signal, deadline, `bgsync cancel`) does not retry: whatever the
            // request ended with, it ends here.
            try Task.checkCancellation()
            let problem: String
            let delay: Double
            switch outcome {
            case .success(let response):
                adoptCookie(from: response.headers)
                if response.status == 401, !renewedAuth, try await renewAuthentication() {
                    renewedAuth = true
                    continue
                }
                let retryable = response.status == 408 || response.status == 429 || (500...599).contains(response.status)
                guard retryable else { return response }
                problem = scrub(response.couchError.map { "\($0.error): \($0.reason)" } ?? "HTTP \(response.status)")
                delay = retryDelay(attempt: attempt, retryAfter: response.headers.first(name: "Retry-After"))
            case .failure(let error):
                if let refusal = Self.tlsRefusal(error) {
                    // Not transient: retrying cannot make an untrusted certificate trusted.
                    throw ReplicationError(.unauthorized, "\(description): \(refusal)")
                }
                problem = Self.describe(error)
                delay = retryDelay(attempt: attempt, retryAfter: nil)
            }
            let kind: ReplicationError.Kind = if case .success = outcome { .transient } else { .unreachable }
            let elapsed = Self.seconds(ContinuousClock.now - firstAttempt)
            if attempt >= options.maxRetries {
                throw ReplicationError(kind, "\(description): \(problem) (after \(attempt + 1) attempts)")
            }
            if elapsed + delay > options.maxRetryTime {
                throw ReplicationError(kind, "\(description): \(problem) (after \(attempt + 1) attempts in \(Self.describe(seconds: elapsed)); a retry in \(Self.describe(seconds: delay)) would pass the retry time of \(Self.describe(seconds: options.maxRetryTime)))")
            }
            logger.info("retrying", metadata: ["request": "\(description)", "problem": "\(problem)", "delay": "\(Self.describe(seconds: delay))"])
            try await Task.sleep(for: .seconds(delay))
            attempt += 1
        }
    }

    /// Seconds as NIO's `TimeAmount`.
    static func timeAmount(_ seconds: Double) -> TimeAmount {
        .nanoseconds(Int64(min(max(0, seconds), 1e9) * 1e9))
    }

    /// A duration in seconds.
    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// `0.25 s`, `12 s`.
    static func describe(seconds: Double) -> String {
        seconds < 10 ? String(format: "%.2g s", seconds) : "\(Int(seconds.rounded())) s"
    }

    /// A body larger than the limit (declared or received).
    struct ResponseTooLarge: Error {}

    /// A body still arriving when the request's time was up.
    struct BodyTimedOut: Error {}

    /// Reads a body into one array (sized from `Content-Length` when declared, so that it is
    /// not copied while growing), refusing more than `limit` bytes and stopping at `deadline`.
    static func collect(_ body: HTTPClientResponse.Body, declaredLength: Int?, limit: Int, deadline: NIODeadline) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        if let declaredLength {
            guard declaredLength <= limit else { throw ResponseTooLarge() }
            bytes.reserveCapacity(max(0, declaredLength))
        }
        for try await buffer in body {
            guard buffer.readableBytes <= limit - bytes.count else { throw ResponseTooLarge() }
            bytes.append(contentsOf: buffer.readableBytesView)
            if NIODeadline.now() > deadline { throw BodyTimedOut() }
        }
        return bytes
    }


    /// The body did not have the length the caller expected (the data changed underneath).
    struct UnexpectedLength: Error {
        let received: Int
        let expected: Int
    }

    /// Writes a body to a new file in `directory`, one piece in memory at a time; it must be
    /// `expected` bytes long and arrive by `deadline`. (A body declared with another length is
    /// not read: ``CouchResponse/declaredLength``.)
    static func spool(_ body: HTTPClientResponse.Body, expected: Int, directory: String,
                      deadline: NIODeadline) async throws -> SpoolFile {
        let writer = try SpoolFile.Writer(in: directory)
        var received = 0
        for try await buffer in body {
            received += buffer.readableBytes
            guard received <= expected else { throw UnexpectedLength(received: received, expected: expected) }
            try buffer.withUnsafeReadableBytes { try writer.append($0) }
            if NIODeadline.now() > deadline { throw BodyTimedOut() }
        }
        guard received == expected else { throw UnexpectedLength(received: received, expected: expected) }
        return try writer.finish()
    }

    /// Exponential backoff with full jitter, or the server's `Retry-After` (seconds, capped).
    func retryDelay(attempt: Int, retryAfter: String?) -> Double {
        if let retryAfter, let seconds = Double(retryAfter.trimmingCharacters(in: .whitespaces)), seconds >= 0 {
            return min(seconds, 120)
        }
        let base = options.initialRetryDelay * pow(2, Double(attempt))
        return min(base / 2 + Double.random(in: 0...(base / 2)), 30)
    }

    /// A sentence for a TLS handshake the client refused (certificate not trusted, wrong
    /// host name), nil for any other error.
    static func tlsRefusal(_ error: any Error) -> String? {
        let advice = "if the server's certificate comes from a private CA, give that CA's certificate as tls.ca_file (job) or --ca-file (sync); tls.insecure = true turns verification off"
        switch error {
        case NIOSSLError.handshakeFailed(let reason):
            return "TLS handshake failed: the server's certificate is not trusted (\(reason)); \(advice)"
        case let error as NIOSSLExtraError where error == .failedToValidateHostname:
            return "TLS: the server's certificate does not name this host (\(error)); \(advice)"
        default:
            return nil
        }
    }

    /// `text` without the secrets this client sends (passwords, their Basic form, bearer
    /// tokens, session cookies): a server may echo them in an error reason, and messages end
    /// up in logs, the state database and hooks.
    func scrub(_ text: String) -> String {
        var secrets: [String] = []
        func credentials(_ user: String, _ password: String) {
            secrets += [Data("\(user):\(password)".utf8).base64EncodedString(), "\(user):\(password)", password]
        }
        switch options.auth {
        case .basic(let user, let password), .session(let user, let password): credentials(user, password)
        default: break
        }
        if let url = basicFromURL { credentials(url.user, url.password) }
        state.withLock { state in
            if let token = state.bearer { secrets.append(token) }
            if let cookie = state.cookie {
                secrets.append(cookie)
                if let equals = cookie.firstIndex(of: "=") { secrets.append(String(cookie[cookie.index(after: equals)...])) }
            }
        }
        var result = text
        for secret in secrets.sorted(by: { $0.count > $1.count }) where secret.count >= 3 {
            result = result.replacingOccurrences(of: secret, with: "***")
        }
        return result
    }

    /// A plain sentence for a failed attempt: what happened, not how the libraries call it.
    static func describe(_ error: any Error) -> String {
        switch error {
        case is BodyTimedOut:
            return "the server did not send the whole response in time"
        case let error as UnexpectedLength:
            return "the server sent \(error.received) bytes of attachment data where the document says \(error.expected)"
        case let error as HTTPClientError:
            switch error {
            case .connectTimeout: return "connection timed out"
            case .readTimeout: return "the server stopped sending (stall timeout)"
            case .deadlineExceeded: return "the server did not answer in time"
            case .remoteConnectionClosed: return "the server closed the connection"
            default: return "\(error)"
            }
        case let error as IOError:
            return describe(errno: error.errnoCode) ?? "\(error)"
        case let error as NIOConnectionError:
            if let first = error.connectionErrors.first { return describe(first.error) }
            if error.dnsAError != nil || error.dnsAAAAError != nil { return "cannot resolve the host name \(error.host)" }
            return "cannot connect to \(error.host):\(error.port)"
        case let error as SocketAddressError:
            if case .unknown(let host, _) = error { return "cannot resolve the host name \(host)" }
            return "\(error)"
        default:
            return "\(error)"
        }
    }

    /// Connection errors by their `errno`, in words.
    static func describe(errno code: Int32) -> String? {
        switch code {
        case ECONNREFUSED: "connection refused"
        case ECONNRESET: "the server reset the connection"
        case ETIMEDOUT: "connection timed out"
        case EHOSTUNREACH: "no route to the host"
        case ENETUNREACH: "the network is unreachable"
        case EPIPE: "the server closed the connection"
        default: nil
        }
    }

    // MARK: Authentication

    private func authorize(_ request: inout HTTPClientRequest) async throws {
        switch options.auth {
        case .none:
            if let credentials = basicFromURL {
                request.headers.add(name: "Authorization", value: Self.basicHeader(credentials.user, credentials.password))
            }
        case .basic(let user, let password):
            request.headers.add(name: "Authorization", value: Self.basicHeader(user, password))
        case .session:
            if state.withLock({ $0.cookie }) == nil { _ = try await login() }
            if let cookie = state.withLock({ $0.cookie }) {
                request.headers.add(name: "Cookie", value: cookie)
            }
        case .bearer(let provider):
            var token = state.withLock { $0.bearer }
            if token == nil {
                token = try await Self.bearerToken(provider)
                state.withLock { $0.bearer = token }
            }
            request.headers.add(name: "Authorization", value: "Bearer " + (token ?? ""))
        }
    }

    static func bearerToken(_ provider: @Sendable () async throws -> String) async throws -> String {
        do {
            return try await provider()
        } catch let error as CancellationError {
            throw error
        } catch {
            throw ReplicationError(.unauthorized, "cannot get a bearer token: \(error)")
        }
    }

    static func basicHeader(_ user: String, _ password: String) -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    /// After a 401: log in again (session) or ask for a new token (bearer), once.
    private func renewAuthentication() async throws -> Bool {
        switch options.auth {
        case .session:
            state.withLock { $0.cookie = nil }
            return try await login()
        case .bearer(let provider):
            let token = try await Self.bearerToken(provider)
            state.withLock { $0.bearer = token }
            return true
        default:
            return false
        }
    }

    /// `POST /_session`; never retried in a loop (CouchDB locks out repeated bad passwords).
    private func login() async throws -> Bool {
        guard case .session(let user, let password) = options.auth else { return false }
        var request = HTTPClientRequest(url: url.origin + "/_session")
        request.method = .POST
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "Content-Type", value: "application/json")
        var body = "{\"name\":"
        JSONString.append(user, to: &body)
        body += ",\"password\":"
        JSONString.append(password, to: &body)
        body += "}"
        request.body = .bytes(ByteBuffer(string: body))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .milliseconds(Int64(options.requestTimeout * 1000)), logger: logger)
        } catch {
            throw ReplicationError(.unreachable, "POST \(url.origin)/_session: \(Self.describe(error))")
        }
        let collected = try await response.body.collect(upTo: 1 << 20)
        state.withLock { $0.requests += 1 }
        guard response.status == .ok else {
            let reason = CouchResponse(status: Int(response.status.code), headers: response.headers, body: Array(buffer: collected))
                .couchError?.reason ?? "HTTP \(response.status.code)"
            throw ReplicationError(.unauthorized, "\(url.origin)/_session: login as \(user) refused: \(scrub(reason))")
        }
        adoptCookie(from: response.headers)
        return state.withLock { $0.cookie != nil }
    }

    /// Keeps the newest `AuthSession` / `SyncGatewaySession` cookie the server sent.
    private func adoptCookie(from headers: HTTPHeaders) {
        for value in headers["Set-Cookie"] {
            let pair = value.split(separator: ";", maxSplits: 1).first.map(String.init) ?? value
            guard let equals = pair.firstIndex(of: "=") else { continue }
            let name = pair[..<equals].trimmingCharacters(in: .whitespaces)
            let content = pair[pair.index(after: equals)...]
            guard name == "AuthSession" || name == "SyncGatewaySession", !content.isEmpty else { continue }
            state.withLock { $0.cookie = pair.trimmingCharacters(in: .whitespaces) }
        }
    }
}
