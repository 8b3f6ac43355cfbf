package data

import (
	"fmt"

	"github.com/podaml/poda/npy"
	"github.com/podaml/poda/tensor"
)

// LoadNPZ builds an in-memory data set from two arrays of an .npz archive:
// inputs xKey of shape [N, ...] (any real numeric type, converted to
// float32, values kept as they are) and integer labels yKey of shape [N]
// or [N, 1]. Classes is max(label)+1; use WithClasses to set it.
func LoadNPZ(path, xKey, yKey string) (*Memory, error) {
	m, _, err := npy.ReadNPZ(path)
	if err != nil {
		return nil, err
	}
	x, ok := m[xKey]
	if !ok {
		return nil, fmt.Errorf("data: %s: no array %q", path, xKey)
	}
	y, ok := m[yKey]
	if !ok {
		return nil, fmt.Errorf("data: %s: no array %q", path, yKey)
	}
	return fromArrays(x, y, path+":"+xKey, path+":"+yKey)
}

// LoadNPY is LoadNPZ for inputs and labels in two .npy files.
func LoadNPY(xPath, yPath string) (*Memory, error) {
	x, err := npy.ReadFile(xPath)
	if err != nil {
		return nil, err
	}
	y, err := npy.ReadFile(yPath)
	if err != nil {
		return nil, err
	}
	return fromArrays(x, y, xPath, yPath)
}

func fromArrays(x, y *tensor.Tensor, xName, yName string) (*Memory, error) {
	if x.Rank() < 1 {
		return nil, fmt.Errorf("data: %s: inputs are a scalar, want shape [N, ...]", xName)
	}
	if y.Rank() == 2 && y.Shape[1] == 1 {
		y = &tensor.Tensor{DType: y.DType, Shape: y.Shape[:1], F32: y.F32, I64: y.I64, Raw: y.Raw}
	}
	if y.Rank() != 1 {
		return nil, fmt.Errorf("data: %s: labels have shape %v, want [N] or [N, 1]", yName, y.Shape)
	}
	if x.Shape[0] != y.Shape[0] {
		return nil, fmt.Errorf("data: %s has %d examples but %s has %d labels", xName, x.Shape[0], yName, y.Shape[0])
	}
	xf, err := npy.AsFloat32(x)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %v", xName, err)
	}
	yi, err := npy.AsInt64(y)
	if err != nil {
		return nil, fmt.Errorf("data: %s: labels must be integers: %v", yName, err)
	}
	labels := make([]int, len(yi.I64))
	for i, v := range yi.I64 {
		if v < 0 || v >= MaxClasses {
			return nil, fmt.Errorf("data: %s: label %d of example %d is not in [0, %d)", yName, v, i, MaxClasses)
		}
		labels[i] = int(v)
	}
	m, err := NewMemory(xf.F32, labels, x.Shape[1:], 0)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %v", yName, err)
	}
	return m, nil
}

// WithClasses sets the number of classes, checking every label is below it.
func (m *Memory) WithClasses(classes int) (*Memory, error) {
	if classes <= 0 {
		return nil, fmt.Errorf("data: class count %d must be positive", classes)
	}
	if _, err := checkLabels(m.Y, classes); err != nil {
		return nil, err
	}
	c := *m
	c.classes = classes
	return &c, nil
}
