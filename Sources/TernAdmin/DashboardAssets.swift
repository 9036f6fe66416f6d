import Foundation
import Hummingbird
import NIOCore

/// The dashboard's files and the OpenAPI document, shipped as package resources and read once at start.
struct DashboardAssets: Sendable {
    static let dashboardFiles = ["index.html", "dashboard.css", "dashboard.js", "mqtt-websocket.js"]
    private let files: [String: ByteBuffer]

    init() throws {
        var files: [String: ByteBuffer] = [:]
        for name in Self.dashboardFiles + ["openapi.json"] {
            let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Resources")
                ?? Bundle.module.url(forResource: name, withExtension: nil)
            guard let url else { throw DashboardAssetError(name: name) }
            files[name] = ByteBuffer(bytes: try Data(contentsOf: url))
        }
        self.files = files
    }

    /// The file `name` with its content type.
    func response(_ name: String) -> Response {
        guard let body = files[name] else { return Response(status: .notFound) }
        let type = switch name.split(separator: ".").last {
        case "html": "text/html; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "js": "text/javascript; charset=utf-8"
        default: "application/json; charset=utf-8"
        }
        return Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"],
                        body: .init(byteBuffer: body))
    }
}

struct DashboardAssetError: Error, CustomStringConvertible {
    var name: String
    var description: String { "the package resource \(name) is missing" }
}
