import Foundation

/// An `http(s)` database URL split into the parts bgsync needs, with any user-info removed so
/// that it can be logged and hashed without leaking secrets.
public struct URLComponentsLite: Sendable, Equatable, CustomStringConvertible {
    /// `http` or `https`.
    public var scheme: String
    /// The host, lowercased.
    public var host: String
    /// The port, if not the scheme's default.
    public var port: Int?
    /// The path to the database, without a trailing slash (`/db` or `/prefix/db`).
    public var path: String
    /// User name found in the URL, if any (the password is dropped).
    public var user: String?
    /// A password found in the URL; kept out of ``description``.
    public var password: String?

    /// Parses and normalises a database URL.
    public init(parsing text: String) throws {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else {
            throw ReplicationError.configuration("\(Self.redact(text)): not a valid http(s) URL")
        }
        self.scheme = scheme
        self.host = host.lowercased()
        let defaultPort = scheme == "https" ? 443 : 80
        port = components.port == defaultPort ? nil : components.port
        var path = components.percentEncodedPath
        while path.hasSuffix("/") { path.removeLast() }
        guard !path.isEmpty else {
            throw ReplicationError.configuration("\(Self.redact(text)): the URL names no database; expected \(scheme)://\(host)/DATABASE")
        }
        self.path = path
        user = components.user
        password = components.password
    }

    /// The server's root (`scheme://host[:port]`).
    public var origin: String {
        "\(scheme)://\(host)" + (port.map { ":\($0)" } ?? "")
    }

    /// The database URL without credentials.
    public var description: String { origin + path }

    /// The database name as CouchDB would report it (last path component, decoded).
    public var databaseName: String {
        let last = path.split(separator: "/").last.map(String.init) ?? path
        return last.removingPercentEncoding ?? last
    }

    /// Redacts the user info of every URL in `text` — a URL, or a message or log line that
    /// holds any number of them: `https://user:pass@host/db` → `https://***@host/db`. The one
    /// redactor: errors, log lines and reports all go through it.
    package static func redact(_ text: String) -> String {
        guard text.contains("@"), text.contains("://") else { return text }
        var output = ""
        var rest = Substring(text)
        while let scheme = rest.range(of: "://") {
            output += rest[..<scheme.upperBound]
            let after = rest[scheme.upperBound...]
            let end = after.firstIndex(where: { "/ \"'\n,)".contains($0) }) ?? after.endIndex
            let authority = after[..<end]
            if let at = authority.lastIndex(of: "@") {
                output += "***@" + authority[authority.index(after: at)...]
            } else {
                output += authority
            }
            rest = after[end...]
        }
        return output + rest
    }
}
