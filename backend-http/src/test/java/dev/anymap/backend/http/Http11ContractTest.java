package dev.anymap.backend.http;

class Http11ContractTest extends HttpContractTest {
    @Override
    TestServer.Mode mode() {
        return TestServer.Mode.HTTP_1_1;
    }
}
