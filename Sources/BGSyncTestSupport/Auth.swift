import Foundation

/// Who is asking, from Basic credentials, an `AuthSession` cookie or a bearer token, as
/// CouchDB 3's default authentication handlers decide it.
extension FixtureCore {
    /// Whether the server needs credentials at all (false in admin party).
    var requiresAuthentication: Bool {
        !configuration.users.isEmpty || !configuration.bearerTokens.isEmpty
    }

    /// The user the request authenticates as: nil when it carries no usable credentials.
    /// Wrong Basic credentials or an unknown bearer token fail the request with 401 at once.
    func authenticate(_ request: CouchRequest) throws(FixtureError) -> String? {
        if let authorization = request.headers["authorization"] {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "basic" {
                guard let data = Data(base64Encoded: String(parts[1])),
                      let text = String(data: data, encoding: .utf8),
                      let colon = text.firstIndex(of: ":")
                else { throw FixtureError.badCredentials }
                let name = String(text[..<colon])
                let password = String(text[text.index(after: colon)...])
                guard configuration.users[name] == password else { throw FixtureError.badCredentials }
                return name
            }
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                guard let name = configuration.bearerTokens[String(parts[1])] else {
                    throw FixtureError(401, "unauthorized", "The token is not valid.")
                }
                return name
            }
        }
        if let token = Self.cookie(named: "AuthSession", in: request.headers["cookie"]), !token.isEmpty {
            // An expired or unknown cookie is ignored, as CouchDB does: the request is anonymous.
            return state.withLock { $0.sessions[token] }
        }
        return nil
    }

    static func cookie(named name: String, in header: String?) -> String? {
        guard let header else { return nil }
        for pair in header.split(separator: ";") {
            let trimmed = pair.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix(name + "=") { return String(trimmed.dropFirst(name.count + 1)) }
        }
        return nil
    }

    /// Starts a session for `name`; returns the cookie value.
    func newSession(for name: String) -> String {
        let raw = "\(name):\(Int(Date().timeIntervalSince1970)):\(UUID().uuidString)"
        let token = Data(raw.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        state.withLock { $0.sessions[token] = name }
        return token
    }

    func endSession(_ token: String?) {
        guard let token else { return }
        state.withLock { $0.sessions[token] = nil }
    }

    func expireSessions() {
        state.withLock { $0.sessions.removeAll() }
    }

    /// `AuthSession=…; Version=1; Expires=…; Max-Age=600; Path=/; HttpOnly`, as CouchDB writes it.
    static func sessionCookie(_ token: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd-MMM-yyyy HH:mm:ss 'GMT'"
        let expires = formatter.string(from: Date().addingTimeInterval(600))
        return "AuthSession=\(token); Version=1; Expires=\(expires); Max-Age=600; Path=/; HttpOnly"
    }
}
