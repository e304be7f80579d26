import BGSyncReplication
import BGSyncStore
import Foundation
import Synchronization

/// Turns a factory's settings (a registry table after `${input.*}` substitution, or the JSON an
/// `exec` factory printed) into a ``ReplicatorConfiguration``, validating every key.
struct ConfigurationDecoder {
    /// The environment (for `password_env`, `token_env` and `$CREDENTIALS_DIRECTORY`).
    let environment: [String: String]
    /// The directory relative paths are resolved against (the registry's).
    let baseDirectory: String

    static let keys = ["kind", "database", "remote", "direction", "batch_size", "auth", "headers", "pull_filter",
                       "push_filter", "conflicts", "tls", "connect_timeout", "request_timeout", "stall_timeout",
                       "max_retries", "retry_delay", "retry_time", "create_target"]
    static let authKeys = ["type", "user", "password_file", "password_env", "password_credential",
                           "token_file", "token_env", "token_command"]
    static let tlsKeys = ["ca_file", "client_cert", "client_key", "insecure"]
    static let pullFilterKeys = ["doc_ids", "selector", "channels"]
    static let pushFilterKeys = ["doc_ids", "sql_where"]

    enum AuthType: String, CaseIterable { case none, basic, session, bearer }

    func decode(_ table: ConfigTable) async throws -> ReplicatorConfiguration {
        try table.checkKeys(Self.keys)
        let database = resolve(try table.requiredString("database", "the path of the local database file"))
        let directory = (database as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) || !isDirectory.boolValue {
            throw table.error("database", "the directory \(directory) does not exist; create it (bgsync creates the database file, never its directory)")
        }
        let remoteText = try table.requiredString("remote", "a CouchDB database URL (https://host/db) or a local database path")
        var remote: Endpoint
        do {
            remote = try Endpoint(parsing: remoteText, credentialsHint: "put the user in auth.user and the password in a file named by auth.password_file (or auth.password_env, auth.password_credential)")
        } catch let error as ReplicationError {
            throw table.error("remote", error.message)
        }
        if case .file(let path) = remote { remote = .file(resolve(path)) }
        var configuration = ReplicatorConfiguration(database: database, remote: remote)
        configuration.direction = try table.choice("direction", ReplicatorConfiguration.Direction.self) ?? .pullAndPush
        configuration.batchSize = try table.int("batch_size", range: 1...10_000) ?? configuration.batchSize
        configuration.createTarget = try table.bool("create_target") ?? false
        configuration.conflictResolver = try decodeConflicts(table)
        if let seconds = try table.positiveDuration("connect_timeout") { configuration.http.connectTimeout = seconds }
        if let seconds = try table.positiveDuration("request_timeout") { configuration.http.requestTimeout = seconds }
        if let seconds = try table.positiveDuration("stall_timeout") { configuration.http.stallTimeout = seconds }
        configuration.http.maxRetries = try table.int("max_retries", range: 0...100) ?? configuration.http.maxRetries
        if let seconds = try table.duration("retry_delay") { configuration.http.initialRetryDelay = seconds }
        if let seconds = try table.duration("retry_time") { configuration.http.maxRetryTime = seconds }
        if let headers = try table.table("headers") {
            for (name, value) in headers.object.members {
                guard let text = value.stringValue else { throw headers.error(name, "header values must be strings") }
                configuration.http.headers.append((name, text))
            }
        }
        if let auth = try table.table("auth") { configuration.http.auth = try await decodeAuth(auth) }
        if let tls = try table.table("tls") {
            try tls.checkKeys(Self.tlsKeys)
            configuration.http.caFile = try readableFile(tls, "ca_file")
            let cert = try readableFile(tls, "client_cert")
            let key = try readableFile(tls, "client_key")
            switch (cert, key) {
            case let (cert?, key?): configuration.http.clientCertificate = (cert, key)
            case (nil, nil): break
            default: throw tls.error(cert == nil ? "client_cert" : "client_key", "client_cert and client_key go together")
            }
            configuration.http.insecure = try tls.bool("insecure") ?? false
        }
        if let filter = try table.table("pull_filter") {
            try filter.checkKeys(Self.pullFilterKeys)
            if let ids = try filter.stringArray("doc_ids") {
                configuration.pullFilter = .documentIDs(ids)
            } else if let selector = filter.object["selector"] {
                guard selector.objectValue != nil else { throw filter.error("selector", "expected a Mango selector table, e.g. { type = \"note\" }") }
                configuration.pullFilter = .selector(selector)
            } else if let channels = try filter.stringArray("channels") {
                configuration.pullFilter = .channels(channels)
            }
            if filter.object.count > 1 { throw filter.error(nil, "give one of doc_ids, selector or channels") }
        }
        if let filter = try table.table("push_filter") {
            try filter.checkKeys(Self.pushFilterKeys)
            if let ids = try filter.stringArray("doc_ids") {
                configuration.pushFilter = .documentIDs(ids)
            } else if let expression = try filter.string("sql_where") {
                do {
                    try DocumentFilter.validate(sqlWhere: expression)
                } catch let error as StoreError {
                    throw filter.error("sql_where", error.message)
                }
                configuration.pushFilter = .sqlWhere(expression)
            }
            if filter.object.count > 1 { throw filter.error(nil, "give one of doc_ids or sql_where") }
        }
        return configuration
    }

    func decodeAuth(_ table: ConfigTable) async throws -> Authentication {
        try table.checkKeys(Self.authKeys)
        let type = try table.choice("type", AuthType.self) ?? (table.object["user"] != nil ? .basic : .none)
        switch type {
        case .none:
            return .none
        case .basic, .session:
            let user = try table.requiredString("user", "the user name")
            let password = try secret(table, file: "password_file", env: "password_env", credential: "password_credential", what: "password")
            return type == .basic ? .basic(user: user, password: password) : .session(user: user, password: password)
        case .bearer:
            if let command = try table.stringArray("token_command") {
                guard !command.isEmpty else { throw table.error("token_command", "expected a command, e.g. [\"/usr/local/bin/get-token\"]") }
                let environment = self.environment
                // Run once now, so that a broken command is a configuration error before any
                // request; the first request uses this token, a renewal after 401 runs it again.
                let first = Mutex<String?>(try await Self.runTokenCommand(command, environment: environment))
                return .bearer {
                    if let token = first.withLock({ token in defer { token = nil }; return token }) { return token }
                    return try await Self.runTokenCommand(command, environment: environment)
                }
            }
            let token = try secret(table, file: "token_file", env: "token_env", credential: nil, what: "token")
            return .bearer { token }
        }
    }

    /// Runs a bearer `token_command` (no input, 30 s, cancellable) and returns its trimmed stdout.
    static func runTokenCommand(_ command: [String], environment: [String: String]) async throws -> String {
        let timeout = 30.0
        let outcome = try await ChildProcess.run(command, environment: environment, timeout: timeout, maxOutput: 64 << 10)
        guard outcome.succeeded else {
            throw JobError(.configuration, "token command \(command[0]) \(outcome.ending(timeout: timeout)): \(outcome.stderrTail(300))")
        }
        let token = String(decoding: outcome.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw JobError(.configuration, "token command \(command[0]) printed no token") }
        return token
    }

    /// A secret by reference: a 0600 file, an environment variable, or a systemd credential.
    func secret(_ table: ConfigTable, file: String, env: String, credential: String?, what: String) throws -> String {
        if let path = try table.string(file) {
            return try FilePermissions.readSecret(resolve(path), what: "\(what) file")
        }
        if let name = try table.string(env) {
            guard let value = environment[name] else {
                throw table.error(env, "the environment variable \(name) is not set")
            }
            return value
        }
        if let credential, let name = try table.string(credential) {
            guard let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty else {
                throw table.error(credential, "$CREDENTIALS_DIRECTORY is not set: systemd credentials need LoadCredential=\(name):… in the unit")
            }
            return try FilePermissions.readSecret(directory + "/" + name, what: "\(what) credential")
        }
        let options = [file, env, credential].compactMap { $0 }.joined(separator: ", ")
        throw table.error(nil, "the \(what) is missing: give one of \(options) (secrets are never written in configuration files)")
    }

    /// The path at `key`, resolved, when it names a readable regular file.
    func readableFile(_ table: ConfigTable, _ key: String) throws -> String? {
        guard let path = try table.string(key).map(resolve) else { return nil }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw table.error(key, "\(path): no such file")
        }
        guard !isDirectory.boolValue else { throw table.error(key, "\(path) is a directory, not a PEM file") }
        guard FileManager.default.isReadableFile(atPath: path) else { throw table.error(key, "\(path) cannot be read (permission denied)") }
        return path
    }

    func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : baseDirectory + "/" + path
    }
}
