/* cudaemu: nothing of half precision is used by the backend; the header exists so that an include of it compiles. */
#ifndef PLC_EMU_CUDA_FP16_H
#define PLC_EMU_CUDA_FP16_H
#endif
