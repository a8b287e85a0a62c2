;; The smallest module that follows ONE's plugin ABI (plugins/ABI.md), in WebAssembly
;; text: plugin `minimal` defines the thing type `gadget`, and its `prepare` sets the
;; property `size` to 1. Its answers are fixed bytes in its memory: `describe` (byte 9 of
;; the request `{"hook":"describe"}` is `d`) gets the manifest at offset 16 (67 bytes),
;; any other hook the prepare answer at offset 512 (32 bytes). The benchmarks and the C
;; ABI's tests install it.
(module
  (memory (export "memory") 1)
  (data (i32.const 16) "{\"ok\":{\"name\":\"minimal\",\"version\":\"1\",\"types\":[{\"name\":\"gadget\"}]}}")
  (data (i32.const 512) "{\"ok\":{\"properties\":{\"size\":1}}}")
  (func (export "one_abi_version") (result i32) (i32.const 1))
  (func (export "one_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "one_call") (param $ptr i32) (param $len i32) (result i64)
    (if (result i64) (i32.eq (i32.load8_u offset=9 (local.get $ptr)) (i32.const 100))
      (then (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 67)))
      (else (i64.or (i64.shl (i64.const 512) (i64.const 32)) (i64.const 32))))))
