import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A failure of the benchmark itself (not of `bgsync`): a setup request refused, a child
/// that failed, a missing binary. Printed as `bgsync-bench: <message>` with exit 1.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The benchmark's own HTTP: setting up databases on `--server` and downloading the floor.
final class BenchHTTP: Sendable {
    private let client: HTTPClient
    private let authorization: String?

    /// A client that sends Basic credentials when `user` is given.
    init(user: String?, password: String?) {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow,
                                                     timeout: .init(connect: .seconds(10), read: .seconds(600)))
        configuration.httpVersion = .http1Only
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        if let user, let password {
            authorization = "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        } else {
            authorization = nil
        }
    }

    /// Closes connections.
    func shutdown() async {
        try? await client.shutdown()
    }

    /// Sends one request and returns the status and the whole body.
    func send(_ method: HTTPMethod, _ url: String, body: [UInt8]? = nil) async throws -> (status: Int, body: [UInt8]) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        do {
            let response = try await client.execute(request, timeout: .seconds(600))
            let collected = try await response.body.collect(upTo: 1 << 31)
            return (Int(response.status.code), Array(buffer: collected))
        } catch {
            throw BenchError("\(method.rawValue) \(Self.redacted(url)): \(error)")
        }
    }

    /// Sends a request and fails unless the status is one of `accepted`.
    @discardableResult
    func expect(_ accepted: ClosedRange<Int>, _ method: HTTPMethod, _ url: String, body: [UInt8]? = nil) async throws -> [UInt8] {
        let response = try await send(method, url, body: body)
        guard accepted.contains(response.status) else {
            let text = String(decoding: response.body.prefix(300), as: UTF8.self)
            throw BenchError("\(method.rawValue) \(Self.redacted(url)) answered \(response.status): \(text)")
        }
        return response.body
    }

    /// The URL without any query (enough for messages; credentials never appear in URLs here).
    static func redacted(_ url: String) -> String {
        url.split(separator: "?", maxSplits: 1).first.map(String.init) ?? url
    }

    /// `text` encoded for a query value.
    static func queryValue(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
