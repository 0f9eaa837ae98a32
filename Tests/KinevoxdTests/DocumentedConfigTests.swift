import Foundation
import KinevoxCapture
import KinevoxServer
import XCTest
@testable import KinevoxdConfig

/// Config/kinevox.toml is the documented default: it parses, and every value it shows is the value a
/// file without that key gets.
final class DocumentedConfigTests: XCTestCase {
    private var scratch: ScratchFolder!

    override func setUpWithError() throws { scratch = try ScratchFolder() }
    override func tearDown() { scratch.remove() }

    /// The documented file, moved into the scratch folder with its model path pointed at the tiny model
    /// (the bundled model may not be built yet) and the viewer folder at the repository's.
    private func documentedConfig() throws -> String {
        let text = try String(contentsOf: DaemonProcess.repositoryRoot.appendingPathComponent("Config/kinevox.toml"), encoding: .utf8)
        let viewer = DaemonProcess.repositoryRoot.appendingPathComponent("Sources/KinevoxServer/Viewer").path
        let pointed = text
            .replacingOccurrences(of: "\npath = \"\"\n", with: "\npath = \"\(DaemonFixtures.tinyModel)\"\n")
            .replacingOccurrences(of: "\nviewer_dir = \"\"\n", with: "\nviewer_dir = \"\(viewer)\"\n")
        XCTAssertNotEqual(pointed, text)
        return try scratch.write("kinevox.toml", pointed)
    }

    func testDocumentedValuesAreTheDefaults() throws {
        let documented = try DaemonConfig.load(path: try documentedConfig())
        let viewer = DaemonProcess.repositoryRoot.appendingPathComponent("Sources/KinevoxServer/Viewer").path
        let bare = try DaemonConfig.load(path: try scratch.write("bare.toml", """
            [model]
            path = "\(DaemonFixtures.tinyModel)"
            [server]
            viewer_dir = "\(viewer)"
            """))
        XCTAssertEqual(documented.capture, bare.capture)
        XCTAssertEqual(documented.capture, AudioCapture.Configuration(source: .device("default")))
        XCTAssertEqual(documented.vad, bare.vad)
        XCTAssertEqual(documented.vad, VADConfig())
        XCTAssertEqual(documented.model.seed, bare.model.seed)
        XCTAssertEqual(documented.model.threads, bare.model.threads)
        XCTAssertEqual(documented.logLevel, bare.logLevel)
        let defaults = ServerConfig()
        for server in [documented.server, bare.server] {
            XCTAssertEqual(server.listen, defaults.listen)
            XCTAssertNil(server.token)
            XCTAssertEqual(server.allowedOrigins, defaults.allowedOrigins)
            XCTAssertEqual(server.maxClients, defaults.maxClients)
            XCTAssertEqual(server.maxMessageBytes, defaults.maxMessageBytes)
            XCTAssertEqual(server.maxQueuedMessages, defaults.maxQueuedMessages)
            XCTAssertEqual(server.maxUploadSeconds, defaults.maxUploadSeconds)
            XCTAssertEqual(server.maxUploadsPerMinute, defaults.maxUploadsPerMinute)
            XCTAssertEqual(server.threeDirectory, defaults.threeDirectory)
            XCTAssertEqual(server.viewerDirectory, viewer)
        }
    }

    func testModuleValidationIsPlacedAtTheKeyItNames() throws {
        let path = try scratch.write("relation.toml", """
            [model]
            path = "\(DaemonFixtures.tinyModel)"
            [vad]
            start_threshold_db = 4.0
            stop_threshold_db = 6.0
            """)
        XCTAssertThrowsError(try DaemonConfig.load(path: path)) { error in
            let refusal = error as? ConfigError
            XCTAssertEqual(refusal?.line, 5, "\(error)")
            XCTAssertTrue(refusal?.reason.contains("stop_threshold_db") == true, "\(error)")
        }
    }

    func testFileCaptureDeviceMustExist() throws {
        let path = try scratch.write("file.toml", "[capture]\ndevice = \"file:absent.wav\"\n[model]\npath = \"\(DaemonFixtures.tinyModel)\"\n")
        XCTAssertThrowsError(try DaemonConfig.load(path: path)) { error in
            XCTAssertEqual((error as? ConfigError)?.line, 2, "\(error)")
            XCTAssertTrue("\(error)".contains("absent.wav: no such readable WAV file"), "\(error)")
        }
    }

    func testRelativePathsAreTakenFromTheConfigFilesFolder() throws {
        let folder = scratch.url.appendingPathComponent("etc")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: DaemonFixtures.tinyModel, toPath: folder.appendingPathComponent("m.safetensors").path)
        let path = try scratch.write("etc/kinevox.toml", "[model]\npath = \"m.safetensors\"\n[server]\nviewer_dir = \"..\"\n")
        let config = try DaemonConfig.load(path: path)
        XCTAssertEqual(config.model.path, folder.appendingPathComponent("m.safetensors").path)
        XCTAssertEqual(config.server.viewerDirectory, scratch.url.standardizedFileURL.path)
    }
}
