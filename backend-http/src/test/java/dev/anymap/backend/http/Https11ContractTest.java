package dev.anymap.backend.http;

class Https11ContractTest extends HttpContractTest {
    @Override
    TestServer.Mode mode() {
        return TestServer.Mode.HTTPS_1_1;
    }
}
