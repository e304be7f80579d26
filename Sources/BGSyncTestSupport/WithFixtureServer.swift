/// Runs `body` with a started server and stops it afterwards, whether `body` returns or throws:
/// the one way tests and the benchmark scope a fixture server.
///
/// ```swift
/// try await withFixtureServer { server in
///     let db = try server.createDatabase("db")
///     …
/// }
/// ```
public func withFixtureServer<T>(_ configuration: FixtureServer.Configuration = .init(),
                                 _ body: (FixtureServer) async throws -> T) async throws -> T {
    let server = try await FixtureServer.start(configuration)
    do {
        let result = try await body(server)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}
