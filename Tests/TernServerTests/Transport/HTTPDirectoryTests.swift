import Foundation
import Testing
@testable import TernServer

/// What a request path leads to under `http_dir` (`HTTPDirectory`), on a real directory with a file outside it.
@Suite struct HTTPDirectoryTests {
    /// `site/` with index.html, app.js, "a b.txt", docs/index.html, empty/ (no index), a link to a file inside and
    /// one to a file outside; `secret.txt` beside `site/`.
    private func site() throws -> (ConfigurationDirectory, HTTPDirectory) {
        let directory = try ConfigurationDirectory()
        try directory.write("site/index.html", "<h1>home</h1>")
        try directory.write("site/app.js", "run()")
        try directory.write("site/a b.txt", "spaced")
        try directory.write("site/docs/index.html", "docs")
        try directory.makeDirectory("site/empty")
        try directory.write("secret.txt", "outside")
        try FileManager.default.createSymbolicLink(atPath: directory.path + "/site/inside",
                                                   withDestinationPath: directory.path + "/site/app.js")
        try FileManager.default.createSymbolicLink(atPath: directory.path + "/site/outside",
                                                   withDestinationPath: directory.path + "/secret.txt")
        return (directory, try HTTPDirectory(path: directory.path + "/site/"))
    }

    @Test func filesInsideAreServed() throws {
        let (directory, files) = try site()
        defer { withExtendedLifetime(directory) {} }
        let root = try #require(realpath(directory.path + "/site", nil).map { String(cString: $0) })
        #expect(files.root == root)
        #expect(files.resolve("/") == .file(path: root + "/index.html"))
        #expect(files.resolve("/app.js?v=3") == .file(path: root + "/app.js"))
        #expect(files.resolve("/a%20b.txt") == .file(path: root + "/a b.txt"))
        #expect(files.resolve("/docs/") == .file(path: root + "/docs/index.html"))
        #expect(files.resolve("/docs/../app.js") == .file(path: root + "/app.js"))
        #expect(files.resolve("/inside") == .file(path: root + "/app.js"))
    }

    @Test func aDirectoryWithoutItsSlashIsRedirected() throws {
        let (directory, files) = try site()
        withExtendedLifetime(directory) {
            #expect(files.resolve("/docs") == .redirect(location: "/docs/"))
            #expect(files.resolve("/docs?x=1") == .redirect(location: "/docs/?x=1"))
        }
    }

    @Test func whatLiesOutsideOrIsNoFileIsRefused() throws {
        let (directory, files) = try site()
        defer { withExtendedLifetime(directory) {} }
        #expect(files.resolve("/../secret.txt") == .refused(.forbidden))
        #expect(files.resolve("/%2e%2e/secret.txt") == .refused(.forbidden))
        #expect(files.resolve("/docs/../../secret.txt") == .refused(.forbidden))
        #expect(files.resolve("/outside") == .refused(.forbidden))
        #expect(files.resolve("/missing.html") == .refused(.notFound))
        #expect(files.resolve("/app.js/more") == .refused(.notFound))
        #expect(files.resolve("/empty/") == .refused(.notFound))
        #expect(files.resolve("app.js") == .refused(.badRequest))
        #expect(files.resolve("/%zz") == .refused(.badRequest))
        #expect(files.resolve("/a%00.js") == .refused(.badRequest))
        #expect(files.resolve("/%ff") == .refused(.badRequest))
    }

    @Test func aFileIsNotADirectory() throws {
        let (directory, _) = try site()
        #expect(throws: HTTPDirectoryError.self) { try HTTPDirectory(path: directory.path + "/site/app.js") }
        #expect(throws: HTTPDirectoryError.self) { try HTTPDirectory(path: directory.path + "/none") }
    }

    @Test(arguments: [("index.html", "text/html; charset=utf-8"), ("app.JS", "text/javascript; charset=utf-8"),
                      ("style.css", "text/css; charset=utf-8"), ("logo.svg", "image/svg+xml"),
                      ("data", "application/octet-stream"), ("archive.tar.gz", "application/octet-stream"),
                      ("dir.d/readme", "application/octet-stream")])
    func contentTypes(file: String, type: String) {
        #expect(HTTPDirectory.contentType(ofFile: "/srv/www/" + file) == type)
    }
}
