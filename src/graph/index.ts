/** The component graph, circuits over it, and their file formats. */
export * from './names.js';
export * from './graph.js';
export * from './circuit.js';
export * from './serialize.js';
